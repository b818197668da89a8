//! The portal's e-mails, in the account's language: the link that confirms an address,
//! a note to the owner when somebody signs up with an address that has an account, the
//! activation link when the operator chose e-mail over a QR code, and the note that a new
//! phone was activated on a Mobile ID (a successful creation), and the note that an
//! activation expired unused (a failed one), as the operator's `Notify` option says.
//! They are sent in the background: a page never waits for the mail server, and a
//! failure is logged.

use std::time::Duration;

use mobileid_engine::devices::Activation;
use mobileid_engine::portal::Notify;

use crate::mail::Email;
use crate::pages::{catalog, Lang};
use crate::AppState;

/// The e-mail `kind` (catalog keys `mail.<kind>.subject` and `.body`) in `language`.
pub fn email(to: &str, language: &str, kind: &str, values: &[(&str, &str)]) -> Email {
    let lang = Lang::from_ui_locales(language).unwrap_or(Lang::En);
    Email {
        to: to.to_string(),
        subject: catalog::format(lang, &format!("mail.{kind}.subject"), values),
        body: catalog::format(lang, &format!("mail.{kind}.body"), values),
    }
}

/// Sends the e-mail `kind` in the background.
pub fn send(state: &AppState, to: &str, language: &str, kind: &str, values: &[(&str, &str)]) {
    let email = email(to, language, kind, values);
    let mailer = state.settings.mailer.clone();
    let kind = kind.to_string();
    tokio::spawn(async move {
        if let Err(e) = mailer.send(&email).await {
            tracing::error!(kind, "an e-mail was not sent: {e}");
        }
    });
}

/// The browser port's address, for links in e-mails.
pub fn public_url(state: &AppState) -> String {
    state.engine.oidc_issuer().trim_end_matches('/').to_string()
}

/// Tells the owner of the Mobile ID, if it has a portal account, that a phone was
/// activated on it: if it was not them, they can block it at once.
pub async fn activated(state: &AppState, activation: &Activation) {
    if state.engine.config().portal.notify == Notify::Nothing {
        return;
    }
    let account = match state.engine.account_of_user(&activation.msisdn).await {
        Ok(Some(account)) => account,
        Ok(None) => return,
        Err(e) => return tracing::error!("looking up the account of an activation: {e}"),
    };
    let phone = format!("+{}", activation.msisdn);
    let time = super::shown_time(state.engine.now());
    let portal = format!("{}{}", public_url(state), super::PORTAL_PATH);
    send(
        state,
        &account.email,
        &account.language,
        "activated",
        &[("phone", &phone), ("time", &time), ("serial", &activation.serial_number), ("portal", &portal)],
    );
}

/// Tells the owners of activations that expired unused that no Mobile ID was created
/// (when the operator asked for failure notices). The waiting page calls it when it sees
/// its activation end, and [`spawn_upkeep`] every minute for everyone else.
pub async fn report_expired(state: &AppState) {
    if state.engine.config().portal.notify != Notify::SuccessAndFailure {
        return;
    }
    match state.engine.expired_enrolments().await {
        Ok(accounts) => {
            let portal = format!("{}{}", public_url(state), super::PORTAL_PATH);
            for account in accounts {
                send(state, &account.email, &account.language, "failed", &[("portal", &portal)]);
            }
        }
        Err(e) => tracing::warn!("looking for expired activations: {e}"),
    }
}

/// The browser port's upkeep, every minute: failure notices, expired sessions and links
/// removed, and identification pictures past their retention deleted.
pub fn spawn_upkeep(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            report_expired(&state).await;
            if let Err(e) = state.engine.purge_portal().await {
                tracing::warn!("purging portal sessions: {e}");
            }
            // Identification pictures past the retention period.
            match state.engine.purge_verification_images().await {
                Ok(0) => {}
                Ok(count) => tracing::info!("deleted {count} identification pictures past their retention"),
                Err(e) => tracing::warn!("deleting identification pictures: {e}"),
            }
        }
    });
}
