//! `mobileid-phone`: a virtual phone for the Mobile ID platform.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use mobileid_phone::{Phone, PhoneError};

#[derive(Parser)]
#[command(name = "mobileid-phone", version, about = "A virtual Mobile ID phone")]
struct Cli {
    /// Where the phone keeps its keys and certificate.
    #[arg(long, global = true, env = "MOBILEID_PHONE_STATE", default_value = "mobileid-phone.json")]
    state: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Activate this phone with a one-time code from the operator.
    Activate {
        /// The platform's base URL, e.g. https://localhost:8443
        #[arg(long)]
        server: String,
        #[arg(long)]
        code: String,
        /// PEM file of the CA that signed the server's TLS certificate (the data directory's ca.pem).
        #[arg(long)]
        ca: Option<PathBuf>,
        /// Read the new PIN from this file instead of asking.
        #[arg(long)]
        pin_file: Option<PathBuf>,
    },
    /// Wait for requests, show each, and approve or decline it.
    Listen {
        /// Approve every request with the PIN from --pin-file, without asking.
        #[arg(long, requires = "pin_file")]
        auto_approve: bool,
        #[arg(long)]
        pin_file: Option<PathBuf>,
        /// Stop after answering this many requests.
        #[arg(long)]
        count: Option<usize>,
        /// Report this country (ISO 3166-1 alpha-2, e.g. CH) with approvals, as a phone's
        /// location service would (geofencing).
        #[arg(long)]
        country: Option<String>,
        /// The location's accuracy in metres.
        #[arg(long, default_value_t = 20.0, requires = "country")]
        accuracy: f64,
        /// The device and location confidence, 0 to 1.
        #[arg(long, default_value_t = 0.9, requires = "country")]
        confidence: f64,
    },
    /// Show this phone's identity.
    Show,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Activate { server, code, ca, pin_file } => {
            let ca_pem = ca
                .map(|p| std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display())))
                .transpose()?;
            let pin = match pin_file {
                Some(file) => check_new_pin(read_pin(&file)?)?,
                None => new_pin()?,
            };
            let phone = Phone::activate(&server, ca_pem.as_deref(), &code, &pin).await?;
            phone.save(&cli.state)?;
            let state = phone.state();
            println!("Activated +{} with serial number {}.", state.msisdn, state.serial_number);
            println!("Phone state saved to {}.", cli.state.display());
        }
        Command::Listen { auto_approve, pin_file, count, country, accuracy, confidence } => {
            let mut phone = Phone::load(&cli.state)?;
            phone.set_location(country.map(|country| mobileid_core::device_api::DeviceLocation {
                country,
                accuracy,
                device_confidence: confidence,
                location_confidence: confidence,
            }));
            let pin = pin_file.as_deref().map(read_pin).transpose()?;
            listen(&mut phone, auto_approve, pin, count).await?;
            phone.save(&cli.state)?;
        }
        Command::Show => {
            let phone = Phone::load(&cli.state)?;
            let state = phone.state();
            println!("MSISDN        : +{}", state.msisdn);
            println!("serial number : {}", state.serial_number);
            println!("device        : {}", state.device_id);
            println!("server        : {}", state.server);
            println!("PIN blocked   : {}", state.blocked);
        }
    }
    Ok(())
}

async fn listen(
    phone: &mut Phone,
    auto_approve: bool,
    pin: Option<String>,
    count: Option<usize>,
) -> anyhow::Result<()> {
    println!("Listening for requests to +{} (Ctrl-C to stop)...", phone.state().msisdn);
    let mut answered = 0;
    while count.is_none_or(|n| answered < n) {
        let inbox = phone.inbox(Duration::from_secs(30)).await?;
        for receipt in &inbox.receipts {
            println!("Receipt: {}", receipt.message);
        }
        for request in &inbox.requests {
            let prompt = match phone.check(request) {
                Ok(prompt) => prompt,
                Err(e) => {
                    println!("Declining {}: {e}", request.transaction_id);
                    phone.decline(request).await?;
                    continue;
                }
            };
            println!("\n--- Request {} ---\n{}\n---", prompt.transaction_id, prompt.text);
            if auto_approve && request.choices.is_some() {
                // Number matching exists so that nobody approves without looking.
                println!("This request asks which code you were shown: answer it interactively. Declining.");
                phone.decline(request).await?;
            } else if auto_approve {
                let pin = pin.as_deref().unwrap_or_default();
                answer(phone, request, pin).await?;
            } else if ask("Approve? [y/N] ")?.eq_ignore_ascii_case("y") {
                let choice = match &request.choices {
                    None => None,
                    Some(choices) => Some(pick(choices)?),
                };
                loop {
                    let pin = rpassword::prompt_password("PIN: ")?;
                    match phone.approve_choosing(request, &pin, choice.as_deref()).await {
                        Ok(()) => {
                            println!("Approved.");
                            break;
                        }
                        Err(PhoneError::WrongPin { attempts_left }) => {
                            println!("Wrong PIN, {attempts_left} attempts left.")
                        }
                        Err(e) => {
                            println!("{e}");
                            break;
                        }
                    }
                }
            } else {
                phone.decline(request).await?;
                println!("Declined.");
            }
            answered += 1;
        }
    }
    Ok(())
}

/// Number matching: the user picks the code the page shows them.
fn pick(choices: &[String]) -> anyhow::Result<String> {
    println!("Which code does the page show?");
    for (i, choice) in choices.iter().enumerate() {
        println!("  {}) {choice}", i + 1);
    }
    loop {
        let answer = ask("Code number: ")?;
        if let Some(choice) =
            answer.trim().parse::<usize>().ok().and_then(|n| n.checked_sub(1)).and_then(|i| choices.get(i))
        {
            return Ok(choice.clone());
        }
        println!("Type 1, 2 or 3.");
    }
}

async fn answer(phone: &mut Phone, request: &mobileid_core::device_api::SignRequest, pin: &str) -> anyhow::Result<()> {
    match phone.approve(request, pin).await {
        Ok(()) => println!("Approved."),
        Err(PhoneError::Server { status: 409, message }) => println!("Too late: {message}"),
        Err(e @ (PhoneError::WrongPin { .. } | PhoneError::PinBlocked)) => println!("Not approved: {e}"),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

fn read_pin(path: &Path) -> anyhow::Result<String> {
    let pin = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(pin.trim().to_string())
}

fn new_pin() -> anyhow::Result<String> {
    let pin = check_new_pin(rpassword::prompt_password("New PIN (at least 6 digits): ")?)?;
    if rpassword::prompt_password("Repeat the PIN: ")? != pin {
        bail!("the PINs differ");
    }
    Ok(pin)
}

/// The rule for a new PIN, whether typed or read from a file.
fn check_new_pin(pin: String) -> anyhow::Result<String> {
    if pin.len() < 6 || !pin.chars().all(|c| c.is_ascii_digit()) {
        bail!("the PIN must be at least 6 digits");
    }
    Ok(pin)
}

fn ask(question: &str) -> anyhow::Result<String> {
    print!("{question}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}
