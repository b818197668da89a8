//! Additional services an AP can ask for in a signature request (contract §7).

pub const USER_LANG_URI: &str = "http://mss.ficom.fi/TS102204/v1.0.0#userLang";
pub const GEOFENCING_URI: &str = "http://mid.swisscom.ch/as#geofencing";
pub const APP2APP_URI: &str = "http://mid.swisscom.ch/as#app2app";
pub const SUBSCRIBER_INFO_URI: &str = "http://mid.swisscom.ch/as#subscriberInfo";
pub const VALIDATE_URI: &str = "http://uri.etsi.org/TS102204/v1.1.2#validate";

/// The language of the fixed texts on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    En,
    De,
    Fr,
    It,
}

impl Language {
    /// Case-insensitive because the docs write `EN` and every client sends
    /// `en`. Unknown values give `None` rather than a fault: the Java client
    /// sends the literal `LANGUAGE` when unset, and callers fall back to a default.
    pub fn parse_lenient(raw: &str) -> Option<Language> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Language::En),
            "de" => Some(Language::De),
            "fr" => Some(Language::Fr),
            "it" => Some(Language::It),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::De => "de",
            Language::Fr => "fr",
            Language::It => "it",
        }
    }
}

/// One entry of `AdditionalServices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdditionalService {
    UserLang(Language),
    Geofencing,
    App2App {
        redirect_uri: String,
    },
    SubscriberInfo,
    Validate,
    /// A service we do not offer, kept by URI so the AP can be told which
    /// one it may not use (104).
    Other(String),
}

impl AdditionalService {
    pub fn service_uri(&self) -> &str {
        match self {
            AdditionalService::UserLang(_) => USER_LANG_URI,
            AdditionalService::Geofencing => GEOFENCING_URI,
            AdditionalService::App2App { .. } => APP2APP_URI,
            AdditionalService::SubscriberInfo => SUBSCRIBER_INFO_URI,
            AdditionalService::Validate => VALIDATE_URI,
            AdditionalService::Other(uri) => uri,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_parse_case_insensitively() {
        for (raw, lang) in [
            ("en", Language::En),
            ("EN", Language::En),
            ("De", Language::De),
            ("fr", Language::Fr),
            (" IT ", Language::It),
        ] {
            assert_eq!(Language::parse_lenient(raw), Some(lang), "{raw}");
        }
        for raw in ["LANGUAGE", "", "es", "english", "e"] {
            assert_eq!(Language::parse_lenient(raw), None, "{raw}");
        }
    }

    #[test]
    fn language_codes_round_trip() {
        for lang in [Language::En, Language::De, Language::Fr, Language::It] {
            assert_eq!(Language::parse_lenient(lang.code()), Some(lang));
        }
        assert_eq!(Language::De.code(), "de");
    }

    #[test]
    fn service_uris() {
        assert_eq!(
            AdditionalService::UserLang(Language::En).service_uri(),
            "http://mss.ficom.fi/TS102204/v1.0.0#userLang"
        );
        assert_eq!(AdditionalService::Geofencing.service_uri(), "http://mid.swisscom.ch/as#geofencing");
        assert_eq!(
            AdditionalService::App2App { redirect_uri: "myapp://x".into() }.service_uri(),
            "http://mid.swisscom.ch/as#app2app"
        );
        assert_eq!(AdditionalService::SubscriberInfo.service_uri(), "http://mid.swisscom.ch/as#subscriberInfo");
        assert_eq!(AdditionalService::Validate.service_uri(), "http://uri.etsi.org/TS102204/v1.1.2#validate");
        assert_eq!(
            AdditionalService::Other("http://mss.ficom.fi/TS102204/v1.0.0#noSpam".into()).service_uri(),
            "http://mss.ficom.fi/TS102204/v1.0.0#noSpam"
        );
    }
}
