//! MSS_Signature end to end: a virtual phone approves, the AP gets a CMS that openssl
//! verifies against our root, in sync and async mode.

mod support;

use serde_json::Value;
use support::*;

on_both_databases! {
    async fn sync_signature_approved_on_the_phone(server) {
        let mut phone = server.phone("+41791000001").await;
        let text = "Demo: Log in to e-banking? (K7Q2) ç";
        let request = signature_request("+41791000001", text, "synch");
        let ap = server.ap.clone();
        let url = format!("{}/rest/service/sign", server.base);
        let pending = tokio::spawn(async move { post_json(&ap, &url, &request).await });
        let shown = approve_next(&mut phone).await;
        assert_eq!(shown.data, text);
        let (status, body) = pending.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let resp = &body["MSS_SignatureResp"];
        assert_eq!(resp["Status"]["StatusCode"]["Value"], "500");
        assert_eq!(resp["Status"]["StatusMessage"], "SIGNATURE");
        assert_eq!(resp["SignatureProfile"], "http://mid.swisscom.ch/Device-LoA4");
        assert_eq!(resp["MobileUser"]["MSISDN"], "+41791000001");
        assert_eq!(resp["MSSP_TransID"], Value::String(shown.transaction_id.clone()));
        let content = openssl_verify(resp["MSS_Signature"]["Base64Signature"].as_str().unwrap(), &server.root_ca_path());
        assert_eq!(content, text.as_bytes());
    }
}

on_both_databases! {
    async fn async_signature_then_status_polling(server) {
        let mut phone = server.phone("41791000002").await;
        let (status, body) = server.post("/rest/service", &signature_request("41791000002", "Demo: Pay 10 CHF?", "asynch")).await;
        assert_eq!(status, 200, "{body}");
        let ack = &body["MSS_SignatureResp"];
        assert_eq!(ack["Status"]["StatusCode"]["Value"], "100");
        assert_eq!(ack["SignatureProfile"], "http://mid.swisscom.ch/Device-LoA4");
        let id = ack["MSSP_TransID"].as_str().unwrap().to_string();

        let (status, body) = server.post("/rest/service/status", &status_request(&id)).await;
        assert_eq!(status, 200);
        assert_eq!(body["MSS_StatusResp"]["Status"]["StatusCode"]["Value"], "504");
        assert_eq!(body["MSS_StatusResp"]["Status"]["StatusMessage"], "OUTSTANDING_TRANSACTION");

        approve_next(&mut phone).await;
        for _ in 0..2 {
            let (status, body) = server.post("/rest/service/status", &status_request(&id)).await;
            assert_eq!(status, 200, "{body}");
            let resp = &body["MSS_StatusResp"];
            assert_eq!(resp["Status"]["StatusCode"]["Value"], "500");
            assert!(resp.get("SignatureProfile").is_none());
            assert_eq!(resp["MobileUser"]["MSISDN"], "41791000002");
            let content = openssl_verify(resp["MSS_Signature"]["Base64Signature"].as_str().unwrap(), &server.root_ca_path());
            assert_eq!(content, b"Demo: Pay 10 CHF?");
        }
    }
}
