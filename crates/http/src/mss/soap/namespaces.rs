//! The XML namespaces of the MSS SOAP interface (contract §3.1).

pub const ENV_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const SOAP11_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The wrapper namespace of generated stubs; responses copy it from the request.
#[cfg(test)]
pub const KIURU_WSDL_NS: &str = "http://uri.etsi.org/TS102204/etsi204-kiuru.wsdl";
pub const MSS_NS: &str = "http://uri.etsi.org/TS102204/v1.1.2#";
pub const FI_NS: &str = "http://mss.ficom.fi/TS102204/v1.0.0#";
pub const SCO_NS: &str = "http://www.swisscom.ch/TS102204/ext/v1.0.0";
pub const MCS_NS: &str = "http://www.methics.fi/TS102204/ext/v1.0.0";
pub const ASC_NS: &str = "http://mid.swisscom.ch/TS102204/as/v1.0";
pub const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const KIURU_MSSP_NS: &str = "http://kiuru.methics.fi/mssp";
