//! The workers that tell people about envelopes: the e-mails (invitations, reminders,
//! the signed documents on completion, declines, voids) and the senders' webhooks.
//!
//! Both read outboxes the engine writes with each envelope change. A row is claimed
//! by pushing its next attempt into the future before it is tried, so several nodes
//! share the work and a node that dies mid-way leaves the row for a later attempt.
//! Webhooks are signed: `X-MobileID-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256
//! of "<t>.<body>" under the sender's webhook secret>`.

use std::time::Duration;

use mobileid_core::{EnvelopeState, SignerState, Timestamp};
use mobileid_store::{MailRecord, WebhookRecord};

use crate::mail::Attachment;
use crate::AppState;

/// How often the outboxes are read when nobody wakes the workers.
const TICK: Duration = Duration::from_secs(2);
/// A claimed e-mail is tried again after this if its node did not finish it.
const MAIL_RETRY_MS: i64 = 5 * 60 * 1000;
const MAIL_ATTEMPTS: i64 = 5;
/// Webhook retries: after the n-th failed attempt, wait this long.
const WEBHOOK_BACKOFF_S: &[i64] = &[10, 30, 120, 600, 1800, 3600, 6 * 3600, 24 * 3600];
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
const BATCH: i64 = 20;

/// Wakes the workers at once (an envelope changed).
pub fn wake(state: &AppState) {
    state.deliveries.notify_one();
}

/// Starts the workers of this node.
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        let client = match reqwest::Client::builder().timeout(WEBHOOK_TIMEOUT).build() {
            Ok(client) => client,
            Err(e) => return tracing::error!("no HTTP client for webhooks: {e}"),
        };
        loop {
            let woken = state.deliveries.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            send_mails(&state).await;
            deliver_webhooks(&state, &client).await;
            if state.shutdown.is_begun() {
                return;
            }
            let _ = tokio::time::timeout(TICK, woken).await;
        }
    });
}

async fn send_mails(state: &AppState) {
    let now = state.engine.now();
    let mails = match state.engine.store().claim_envelope_mails(now, MAIL_RETRY_MS, BATCH).await {
        Ok(mails) => mails,
        Err(e) => return tracing::warn!("reading the envelope e-mails: {e}"),
    };
    for mail in mails {
        let sent = match compose(state, &mail).await {
            Ok(None) => true,
            Ok(Some((email, attachments))) => match state.settings.mailer.send_with(&email, &attachments).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(kind = %mail.kind, attempt = mail.attempts, "an envelope e-mail was not sent: {e}");
                    if mail.attempts < MAIL_ATTEMPTS {
                        continue;
                    }
                    false
                }
            },
            Err(e) => {
                tracing::error!(kind = %mail.kind, "an envelope e-mail could not be written: {e}");
                false
            }
        };
        if let Err(e) = state.engine.store().finish_envelope_mail(&mail.mail_id, sent).await {
            tracing::warn!("recording an envelope e-mail: {e}");
        }
    }
}

/// The message for an outbox row, or None where it has nothing to say any more (a
/// reminder to somebody who signed).
async fn compose(state: &AppState, mail: &MailRecord) -> Result<Option<(crate::mail::Email, Vec<Attachment>)>, String> {
    let store = state.engine.store();
    let envelope = store.find_envelope(&mail.envelope_id).await.map_err(|e| e.to_string())?.ok_or("no envelope")?;
    let signer = match &mail.signer_id {
        Some(id) => store.find_signer(id).await.map_err(|e| e.to_string())?,
        None => None,
    };
    let sender = store.find_sender(&envelope.sender_id).await.map_err(|e| e.to_string())?;
    let sender_name = sender.map(|s| s.name).unwrap_or_default();
    let language = signer.as_ref().map_or("en", |s| s.language.as_str());
    if mail.kind == "reminder" {
        let waiting = signer.as_ref().is_some_and(|s| matches!(s.state, SignerState::Invited | SignerState::Viewed));
        if envelope.state != EnvelopeState::Sent || !waiting {
            return Ok(None);
        }
    }
    let link = signer.as_ref().map(|s| super::signer_link(state, &s.signer_id)).unwrap_or_default();
    let expires = crate::portal::shown_time(envelope.expires_at);
    let declined = store.envelope_signers(&envelope.envelope_id).await.map_err(|e| e.to_string())?;
    let reason = declined.iter().find_map(|s| s.decline_reason.clone()).unwrap_or_default();
    let values = [
        ("title", envelope.title.as_str()),
        ("sender", sender_name.as_str()),
        ("message", envelope.message.as_str()),
        ("link", link.as_str()),
        ("reference", envelope.envelope_id.as_str()),
        ("expires", expires.as_str()),
        ("reason", reason.as_str()),
    ];
    let email = crate::portal::notify::email(&mail.recipient, language, &format!("envelope_{}", mail.kind), &values);
    let mut attachments = Vec::new();
    if mail.kind == "completed" {
        for index in 0..store.envelope_documents(&envelope.envelope_id).await.map_err(|e| e.to_string())?.len() {
            let (document, bytes) =
                state.engine.envelope_document(&envelope.envelope_id, index).await.map_err(|e| e.to_string())?;
            attachments.push(Attachment { filename: document.name, content_type: "application/pdf".into(), bytes });
        }
    }
    Ok(Some((email, attachments)))
}

async fn deliver_webhooks(state: &AppState, client: &reqwest::Client) {
    let now = state.engine.now();
    // Claimed for the longest wait: the outcome below sets the real next attempt.
    let claimed = state.engine.store().claim_webhooks(now, 24 * 3600 * 1000, BATCH).await;
    let deliveries = match claimed {
        Ok(deliveries) => deliveries,
        Err(e) => return tracing::warn!("reading the webhook deliveries: {e}"),
    };
    for delivery in deliveries {
        let (status, error) = deliver(state, client, &delivery).await;
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        let attempts = delivery.attempts as usize;
        let (outcome, next) = if delivered {
            ("delivered", now)
        } else if attempts > WEBHOOK_BACKOFF_S.len() {
            ("failed", now)
        } else {
            let wait = WEBHOOK_BACKOFF_S[attempts.saturating_sub(1).min(WEBHOOK_BACKOFF_S.len() - 1)];
            ("pending", Timestamp::from_millis(now.as_millis() + wait * 1000))
        };
        let recorded = state
            .engine
            .store()
            .record_webhook_attempt(&delivery.delivery_id, outcome, next, status, error.as_deref())
            .await;
        if let Err(e) = recorded {
            tracing::warn!("recording a webhook delivery: {e}");
        }
    }
}

/// One attempt: the HTTP status, or why there was none.
async fn deliver(
    state: &AppState,
    client: &reqwest::Client,
    delivery: &WebhookRecord,
) -> (Option<i64>, Option<String>) {
    let sender = match state.engine.store().find_sender(&delivery.sender_id).await {
        Ok(Some(sender)) => sender,
        Ok(None) => return (None, Some("the sender is gone".into())),
        Err(e) => return (None, Some(e.to_string())),
    };
    let (Some(url), Some(secret)) = (sender.webhook_url.as_deref(), state.engine.webhook_secret(&sender)) else {
        return (None, Some("the sender has no webhook".into()));
    };
    let t = state.engine.now().as_millis() / 1000;
    let mac = mobileid_crypto::hmac_sha256(&secret, format!("{t}.{}", delivery.payload).as_bytes());
    let response = client
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-MobileID-Event", delivery.event.as_db())
        .header("X-MobileID-Delivery", &delivery.delivery_id)
        .header("X-MobileID-Signature", format!("t={t},v1={}", hex::encode(mac)))
        .body(delivery.payload.clone())
        .send()
        .await;
    match response {
        Ok(response) if response.status().is_success() => (Some(i64::from(response.status().as_u16())), None),
        Ok(response) => (Some(i64::from(response.status().as_u16())), Some(format!("HTTP {}", response.status()))),
        Err(e) => (None, Some(e.to_string())),
    }
}
