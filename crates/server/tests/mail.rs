//! The platform's e-mail (`mobileid_http::mail`) against a real SMTP server: the test
//! sink in `support::smtp`.

mod support;

use std::time::Duration;

use mobileid_http::mail::{Email, MailError, MailSettings, Mailer, SmtpSecurity, SmtpSettings};
use support::smtp::SmtpSink;

const WAIT: Duration = Duration::from_secs(10);

fn mailer_to(port: u16) -> Mailer {
    Mailer::new(&MailSettings {
        from: "Mobile ID <noreply@mobileid.test>".to_string(),
        smtp: Some(SmtpSettings {
            host: "127.0.0.1".to_string(),
            port,
            security: SmtpSecurity::Plain,
            username: None,
            password: None,
            ca_file: None,
        }),
    })
    .unwrap()
}

/// STARTTLS to a relay whose certificate our own CA issued: trusted with `ca_file`, and
/// refused without it (only the Mozilla roots).
#[tokio::test]
async fn starttls_to_a_relay_of_our_own_ca() {
    mobileid_phone::install_crypto_provider();
    let ca = mobileid_crypto::CertificateAuthority::create("Mail test", None).expect("CA");
    let (certificate, key) = ca.issue_tls_server_certificate(&["localhost"], None).expect("certificate");
    let mut chain = vec![certificate];
    chain.extend(ca.chain().into_iter().take(1));
    let sink = SmtpSink::start_tls(chain, key.pkcs8_der().to_vec()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, mobileid_crypto::pem_encode("CERTIFICATE", ca.chain().last().expect("root")))
        .expect("write");
    let mailer = |ca_file: Option<std::path::PathBuf>| {
        Mailer::new(&MailSettings {
            from: "Mobile ID <noreply@mobileid.test>".to_string(),
            smtp: Some(SmtpSettings {
                host: "localhost".to_string(),
                port: sink.port(),
                security: SmtpSecurity::StartTls,
                username: None,
                password: None,
                ca_file,
            }),
        })
        .unwrap()
    };
    let email =
        Email { to: "anna@example.ch".to_string(), subject: "Über TLS".to_string(), body: "Grüezi\n".to_string() };
    let refused = mailer(None).send(&email).await.expect_err("our CA is not a Mozilla root");
    assert!(matches!(refused, MailError::Smtp { .. }) && refused.to_string().contains("certificate"), "{refused}");
    mailer(Some(ca_file)).send(&email).await.expect("sent over STARTTLS");
    let messages = sink.wait_for(1, WAIT).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].subject(), "Über TLS");
}

#[tokio::test]
async fn a_utf8_message_arrives_as_it_was_sent() {
    let sink = SmtpSink::start().await;
    let mailer = mailer_to(sink.port());
    assert!(mailer.is_configured());
    let url = format!("https://mid.example.ch/activate?msisdn=%2B41791234567&code={}&lang=de", "Zk9".repeat(40));
    assert!(url.len() > 100);
    let body = format!(
        "Grüezi Anna Müller\n\nÖffnen Sie diesen Link auf Ihrem Gerät, um Mobile ID zu aktivieren:\n{url}\n\n\
         Der Link gilt 24 Stunden. Grüsse, Ihr Mobile-ID-Team – äöüÄÖÜéàè\n"
    );
    let email =
        Email { to: "anna.mueller@example.ch".to_string(), subject: "Grüezi – Aktivierung".to_string(), body };

    mailer.send(&email).await.unwrap();

    let messages = sink.wait_for(1, WAIT).await;
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let message = &messages[0];
    assert_eq!(message.from, "noreply@mobileid.test");
    assert_eq!(message.to, vec!["anna.mueller@example.ch"]);
    assert_eq!(message.header("To").as_deref(), Some("anna.mueller@example.ch"));
    assert!(message.header("From").unwrap().contains("<noreply@mobileid.test>"), "{}", message.data);
    assert!(message.header("Message-ID").unwrap().ends_with("@mobileid.test>"), "{}", message.data);
    assert_eq!(message.subject(), "Grüezi – Aktivierung", "{}", message.data);
    let text = message.text_body();
    assert_eq!(text.trim_end(), email.body.trim_end(), "{}", message.data);
    assert!(text.lines().any(|line| line == url), "{text}");
    // Sent as 7-bit data (the sink offers no 8BITMIME), every line within SMTP's limit.
    assert!(message.data.is_ascii() && message.data.lines().all(|l| l.len() <= 998), "{}", message.data);
}

#[tokio::test]
async fn several_messages_each_arrive() {
    let sink = SmtpSink::start().await;
    let mailer = mailer_to(sink.port());
    for n in 1..=3 {
        let email =
            Email { to: format!("user{n}@example.ch"), subject: format!("Nummer {n}"), body: format!("Text {n}\n") };
        mailer.clone().send(&email).await.unwrap();
    }
    let messages = sink.wait_for(3, WAIT).await;
    let recipients: Vec<_> = messages.iter().map(|m| m.to.join(",")).collect();
    assert_eq!(recipients, ["user1@example.ch", "user2@example.ch", "user3@example.ch"]);
    assert_eq!(messages[2].subject(), "Nummer 3");
    assert_eq!(messages[2].text_body().trim_end(), "Text 3");
}

#[tokio::test]
async fn without_smtp_the_message_is_logged_and_send_succeeds() {
    let mailer = Mailer::new(&MailSettings { from: "Mobile ID <noreply@localhost>".to_string(), smtp: None }).unwrap();
    assert!(!mailer.is_configured());
    let email =
        Email { to: "anna@example.ch".to_string(), subject: "Aktivierung".to_string(), body: "Code: 1234".to_string() };
    mailer.send(&email).await.unwrap();
}

#[tokio::test]
async fn a_recipient_that_is_no_address_is_refused_with_a_clear_error() {
    let sink = SmtpSink::start().await;
    let unconfigured = Mailer::new(&MailSettings { from: "noreply@localhost".to_string(), smtp: None }).unwrap();
    for mailer in [mailer_to(sink.port()), unconfigured] {
        for to in ["not an e-mail address", "anna.example.ch", "anna@", "anna@example.ch\r\nBcc: eve@example.ch"] {
            let email = Email { to: to.to_string(), subject: "s".to_string(), body: "b".to_string() };
            let e = mailer.send(&email).await.unwrap_err();
            assert!(matches!(e, MailError::InvalidRecipient { .. }), "{e:?}");
            let message = e.to_string();
            assert!(message.starts_with(&format!("invalid recipient e-mail address {to:?}: ")), "{message}");
        }
    }
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn an_unreachable_server_is_an_smtp_error_naming_it() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let email = Email { to: "anna@example.ch".to_string(), subject: "s".to_string(), body: "b".to_string() };
    let e = mailer_to(port).send(&email).await.unwrap_err();
    assert!(matches!(e, MailError::Smtp { .. }), "{e:?}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
}
