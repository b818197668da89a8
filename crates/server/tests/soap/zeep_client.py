"""A SOAP client that the independent library zeep generates at run time from the WSDL our
server publishes, used by tests/soap_generated_client.rs to show that a generated client
(not our own XML) can use every MSS operation through mutual TLS.

    zeep_client.py BASE_URL DATA_DIR SCENARIO ARGS...

    sync     MSISDN TEXT                  a synchronous signature
    async    MSISDN TEXT                  an asynchronous signature, then status polling
    receipt  MSSP_TRANSID MSISDN TEXT ACK a receipt (ACK: "ack" asks for the user's answer)
    profile  MSISDN PARAMS PORT_PATH      a v2.0 profile query posted to PORT_PATH
                                          (PARAMS "-": no Params element)
    fault    MSISDN TEXT                  a signature that must end in a SOAP fault

Each scenario prints JSON lines on stdout: `{"event": ...}` while it runs (the Rust test
acts on them, e.g. approves on the phone once a poll was OUTSTANDING) and a last line with
`"event": "result"`, or `"event": "error"` when zeep failed. Every line that reports a call also carries the envelope zeep sent and
the raw response, so the test can check the wire style on both sides.

The client is generated only from `<BASE_URL>/soap/services/MSS_SignaturePort?wsdl`; the one
other document zeep insists on, the W3C `xml.xsd` (which it maps to the WSDL's
import of the `xml:` namespace), is served from the copy below because tests have no internet access.
"""

import base64
import datetime
import json
import resource
import signal
import sys
import time
import uuid

import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.plugins import HistoryPlugin
from zeep.transports import Transport

AP_ID = "mid://demo.mobileid.local"
# No call takes long against a local server; zeep can loop forever, eating memory, on an
# answer it cannot match to the WSDL, so bound both and report instead of hanging.
CALL_SECONDS = 10
MEMORY_BYTES = 2 << 30
MSS_NS = "http://uri.etsi.org/TS102204/v1.1.2#"
XML_XSD_URL = "https://www.w3.org/2001/xml.xsd"
# The parts of the W3C schema for the `xml:` namespace that XSDs refer to.
XML_XSD = b"""<?xml version="1.0"?>
<xs:schema targetNamespace="http://www.w3.org/XML/1998/namespace"
           xmlns:xs="http://www.w3.org/2001/XMLSchema" xml:lang="en">
  <xs:attribute name="lang">
    <xs:simpleType>
      <xs:union memberTypes="xs:language">
        <xs:simpleType><xs:restriction base="xs:string"><xs:enumeration value=""/></xs:restriction></xs:simpleType>
      </xs:union>
    </xs:simpleType>
  </xs:attribute>
  <xs:attribute name="space">
    <xs:simpleType>
      <xs:restriction base="xs:NCName">
        <xs:enumeration value="default"/><xs:enumeration value="preserve"/>
      </xs:restriction>
    </xs:simpleType>
  </xs:attribute>
  <xs:attribute name="base" type="xs:anyURI"/>
  <xs:attribute name="id" type="xs:ID"/>
</xs:schema>"""


class OfflineTransport(Transport):
    """Loads documents from our server only (plus the local xml.xsd)."""

    def __init__(self, base, **kwargs):
        super().__init__(**kwargs)
        self.base = base

    def load(self, url):
        if url == XML_XSD_URL:
            return XML_XSD
        if not url.startswith(self.base):
            raise RuntimeError(f"zeep wanted a document from outside the server under test: {url}")
        return super().load(url)


class Mss:
    def __init__(self, base, data_dir):
        session = requests.Session()
        # Mutual TLS: the demo AP's client certificate, and our CA as the only trust anchor.
        session.cert = (f"{data_dir}/demo-ap/client.pem", f"{data_dir}/demo-ap/client.key")
        session.verify = f"{data_dir}/ca.pem"
        # requests would otherwise let REQUESTS_CA_BUNDLE override `verify`, and use proxies.
        session.trust_env = False
        self.responses = []
        session.hooks["response"].append(lambda response, *args, **kwargs: self.responses.append(response))
        self.history = HistoryPlugin()
        self.client = zeep.Client(
            f"{base}/soap/services/MSS_SignaturePort?wsdl",
            transport=OfflineTransport(base, session=session, timeout=60, operation_timeout=120),
            plugins=[self.history],
        )
        self.base = base
        self.signature = self.client.bind("MSS_SignatureService", "MSS_SignaturePort")
        self.status = self.client.bind("MSS_StatusService", "MSS_StatusQueryPort")
        self.receipt = self.client.bind("MSS_ReceiptService", "MSS_ReceiptPort")
        self.wsdl_addresses = sorted(
            port.binding_options["address"]
            for service in self.client.wsdl.services.values()
            for port in service.ports.values()
        )

    def profile_service(self, port_path):
        binding = "{http://uri.etsi.org/TS102204/etsi204-kiuru.wsdl}MSS_ProfileQueryBinding"
        return self.client.create_service(binding, f"{self.base}{port_path}")

    def wire(self):
        """The last exchange as it was on the wire."""
        sent = self.history.last_sent
        response = self.responses[-1]
        return {
            "sent_envelope": etree.tostring(sent["envelope"], encoding="unicode"),
            "sent_headers": dict(sent["http_headers"]),
            "http_status": response.status_code,
            "response_content_type": response.headers.get("Content-Type"),
            "response_body": response.content.decode("utf-8"),
        }


class CallTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise CallTimeout(
        f"zeep did not finish a call within {CALL_SECONDS} s (zeep 4.3 loops without end, "
        "allocating, when an answer holds an element where the WSDL's types expect another)"
    )


def call(operation, **kwargs):
    """One SOAP call, bounded in time."""
    signal.alarm(CALL_SECONDS)
    try:
        return operation(**kwargs)
    finally:
        signal.alarm(0)


def frame():
    return {
        "AP_Info": {
            "AP_ID": AP_ID,
            "AP_PWD": "not-needed",
            "AP_TransID": "ID-" + str(uuid.uuid4()),
            "Instant": datetime.datetime.now(datetime.timezone.utc),
        },
        "MSSP_Info": {"MSSP_ID": {"URI": "http://mid.swisscom.ch/"}},
    }


def signature_request(msisdn, text, mode):
    return {
        **frame(),
        "MajorVersion": 1,
        "MinorVersion": 1,
        "MessagingMode": mode,
        "TimeOut": 80,
        "MobileUser": {"MSISDN": msisdn},
        "DataToBeSigned": {"_value_1": text, "MimeType": "text/plain", "Encoding": "UTF-8"},
        "SignatureProfile": {"mssURI": "http://mid.swisscom.ch/Any-LoA4"},
        "AdditionalServices": {
            "Service": [
                {
                    "Description": {"mssURI": "http://mss.ficom.fi/TS102204/v1.0.0#userLang"},
                    "_value_1": [{"UserLang": "en"}],
                }
            ]
        },
    }


def status_of(resp):
    return {"code": resp.Status.StatusCode.Value, "message": resp.Status.StatusMessage}


def common(request, resp):
    """What the client compares with its request: the echoes."""
    return {
        "ap_trans_id_sent": request["AP_Info"]["AP_TransID"],
        "ap_trans_id_echoed": resp.AP_Info.AP_TransID,
        "ap_pwd_echoed": resp.AP_Info.AP_PWD,
        "instant_sent": request["AP_Info"]["Instant"].isoformat(),
        "instant_echoed": resp.AP_Info.Instant.isoformat(),
        "major_version": resp.MajorVersion,
        "minor_version": resp.MinorVersion,
    }


def signature_result(request, resp):
    return {
        **common(request, resp),
        **status_of(resp),
        "mssp_trans_id": resp.MSSP_TransID,
        "msisdn": resp.MobileUser.MSISDN,
        "signature_profile": resp.SignatureProfile.mssURI if resp.SignatureProfile else None,
        "base64_signature": base64.b64encode(resp.MSS_Signature.Base64Signature).decode()
        if resp.MSS_Signature
        else None,
    }


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def run_sync(mss, msisdn, text):
    request = signature_request(msisdn, text, "synch")
    resp = call(mss.signature.MSS_Signature, MSS_SignatureReq=request)
    emit("result", wsdl_addresses=mss.wsdl_addresses, **signature_result(request, resp), **mss.wire())


def run_async(mss, msisdn, text):
    request = signature_request(msisdn, text, "asynchClientServer")
    ack = call(mss.signature.MSS_Signature, MSS_SignatureReq=request)
    emit("ack", **signature_result(request, ack), **mss.wire())
    polls = []
    deadline = time.monotonic() + 30
    while True:
        status_request = {**frame(), "MajorVersion": 1, "MinorVersion": 1, "MSSP_TransID": ack.MSSP_TransID}
        resp = call(mss.status.MSS_StatusQuery, MSS_StatusReq=status_request)
        polls.append(resp.Status.StatusCode.Value)
        if resp.Status.StatusCode.Value != 504:
            break
        if len(polls) == 1:
            emit("outstanding", **common(status_request, resp), **status_of(resp), **mss.wire())
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    emit(
        "result",
        polls=polls,
        **common(status_request, resp),
        **status_of(resp),
        msisdn=resp.MobileUser.MSISDN,
        base64_signature=base64.b64encode(resp.MSS_Signature.Base64Signature).decode() if resp.MSS_Signature else None,
        **mss.wire(),
    )


def run_receipt(mss, mssp_trans_id, msisdn, text, ack):
    request = {
        **frame(),
        "MajorVersion": 1,
        "MinorVersion": 1,
        "MSSP_TransID": mssp_trans_id,
        "MobileUser": {"MSISDN": msisdn},
        "Message": {"_value_1": text, "MimeType": "text/plain", "Encoding": "UTF-8"},
    }
    if ack == "ack":
        request["Status"] = {
            "StatusCode": {"Value": 100},
            "StatusDetail": {
                "_value_1": [
                    {
                        "ReceiptRequestExtension": {
                            "ReceiptMessagingMode": "synch",
                            "UserAck": True,
                            "ReceiptProfile": {
                                "ReceiptProfileURI": "http://mss.swisscom.ch/synch",
                                "Language": "EN",
                            },
                        }
                    }
                ]
            },
        }
    resp = call(mss.receipt.MSS_Receipt, MSS_ReceiptReq=request)
    extension = None
    if resp.Status.StatusDetail is not None:
        for choice in resp.Status.StatusDetail._value_1 or []:
            ext = choice.get("ReceiptResponseExtension")
            if ext is not None:
                extension = {
                    "ReceiptMessagingMode": ext.ReceiptMessagingMode,
                    "UserAck": ext.UserAck,
                    "UserResponse": ext.UserResponse,
                }
    emit("result", **common(request, resp), **status_of(resp), receipt_extension=extension, **mss.wire())



def count_x509(certificate, name):
    """How many ds:<name> values zeep read from an X509DataType. zeep folds each
    (X509Certificate, X509SubjectName) pair of the sequence into one item, keeping the
    second element raw in `_value_1`, so both places are counted."""
    count = 0
    for item in certificate._value_1 or []:
        if item.get(name) is not None:
            count += 1
        raw = item.get("_value_1")
        if raw is not None and etree.QName(raw).localname == name:
            count += 1
    return count

def run_profile(mss, msisdn, params, port_path):
    request = {
        **frame(),
        "MajorVersion": 2,
        "MinorVersion": 0,
        "MobileUser": {"MSISDN": msisdn},
    }
    if params != "-":
        request["_value_1"] = [{"Params": params.split()}]
    resp = call(mss.profile_service(port_path).MSS_ProfileQuery, MSS_ProfileReq=request)
    sim = None
    if resp.Status.StatusDetail is not None:
        for choice in resp.Status.StatusDetail._value_1 or []:
            ext = choice.get("ProfileQueryExtension")
            if ext is not None and ext.Sscds is not None and ext.Sscds.Sim is not None:
                s = ext.Sscds.Sim
                sim = {
                    "state": s.State,
                    "pin_blocked": s.PinStatus.blocked if s.PinStatus is not None else None,
                    "certificates": [
                        {
                            "algorithm": c.Algorithm,
                            "state": c.State,
                            "certificates": count_x509(c, "X509Certificate"),
                            "subject_names": count_x509(c, "X509SubjectName"),
                        }
                        for c in s.MobileUserCertificate
                    ],
                }
    emit(
        "result",
        **common(request, resp),
        **status_of(resp),
        signature_profiles=[p.mssURI for p in resp.SignatureProfile],
        sim=sim,
        **mss.wire(),
    )


def run_fault(mss, msisdn, text):
    request = signature_request(msisdn, text, "synch")
    try:
        call(mss.signature.MSS_Signature, MSS_SignatureReq=request)
    except Fault as fault:
        detail = fault.detail
        emit(
            "result",
            message=fault.message,
            code=fault.code,
            subcodes=[{"namespace": q.namespace, "localname": q.localname} for q in fault.subcodes or []],
            detail_text="".join(detail.itertext()) if detail is not None else None,
            detail_children=[child.tag for child in detail] if detail is not None else [],
            **mss.wire(),
        )
        return
    emit("result", error="no fault was raised", **mss.wire())


def main():
    base, data_dir, scenario, *args = sys.argv[1:]
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    signal.signal(signal.SIGALRM, on_alarm)
    mss = Mss(base, data_dir)
    scenarios = {
        "sync": run_sync,
        "async": run_async,
        "receipt": run_receipt,
        "profile": run_profile,
        "fault": run_fault,
    }
    try:
        scenarios[scenario](mss, *args)
    except (Exception, CallTimeout) as error:
        wire = mss.wire() if mss.responses and mss.history.last_sent else {}
        emit("error", error=f"{type(error).__name__}: {error}", **wire)
        sys.exit(1)


if __name__ == "__main__":
    main()
