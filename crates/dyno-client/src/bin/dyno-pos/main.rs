//! `dyno-pos`: a point-of-sale developer's command line over the Dyno Edge POS API (sandbox
//! first): log in, take EPM and PPM payments, watch a request, refund, check and forward
//! webhooks. Built on the typed client of this crate. Invariant: every command either prints
//! its result (a readable summary, or the API's exact JSON with `--json`) and exits 0, or prints
//! one sentence with the API's `code` and `request_id` and exits non-zero.

mod config;
mod demo;
mod failure;
mod listen;
mod terminal_qr;
mod watch;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use dyno_client::webhooks::{verify_seed_signature, verify_standard_signature};
use dyno_client::{
    decode_nfc, expect_success, parse_millimes, DynoClient, InitiateBody, Initiated, Millimes,
    RawRequest, RawResponse, RefundCreated, ScanSucceeded, SessionStatus,
};

use config::{StoredLogin, TokenProblem};
use failure::Failure;

/// `make dev`'s address.
const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8787";

#[derive(Debug, Parser)]
#[command(
    name = "dyno-pos",
    version,
    about = "Caisse de test en ligne de commande pour l'API POS Dyno Edge (sandbox)",
    after_help = "Commencez par `dyno-pos login` (identifiants de démonstration par défaut)."
)]
struct Cli {
    /// Adresse de l'API (par défaut : celle du dernier `login`, sinon http://127.0.0.1:8787).
    #[arg(long, env = "DYNO_BASE_URL", global = true)]
    base_url: Option<String>,
    /// Affiche le JSON exact de l'API (une ligne par événement pour `--watch` et `listen`).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Obtient un jeton et l'enregistre (fichier lisible par vous seul).
    Login(LoginArgs),
    /// Paiement EPM : encaisse le QR présenté par l'employé.
    Scan(ScanArgs),
    /// Paiement PPM : crée une demande et affiche son QR dans le terminal.
    Initiate(InitiateArgs),
    /// Statut d'une demande PPM ; avec --watch, le suit jusqu'à son issue.
    Status(StatusArgs),
    /// Rembourse un paiement, en tout ou en partie.
    Refund(RefundArgs),
    /// Outils pour les webhooks.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Suit les livraisons de webhooks du client et les transmet à une URL locale.
    Listen(ListenArgs),
}

#[derive(Debug, Args)]
struct LoginArgs {
    #[arg(long, env = "DYNO_CLIENT_ID", default_value = demo::CLIENT_ID)]
    client_id: String,
    #[arg(long, env = "DYNO_CLIENT_SECRET", default_value = demo::CLIENT_SECRET, hide_default_value = true, hide_env_values = true)]
    client_secret: String,
}

#[derive(Debug, Args)]
struct ScanArgs {
    /// Le contenu du QR présenté par l'employé.
    #[arg(long)]
    qr: String,
    /// Montant en TND, au millime près (12.500).
    #[arg(long, value_parser = amount)]
    amount: Millimes,
    /// Référence de la vente dans la caisse (unique par client).
    #[arg(long)]
    pos_reference: String,
    #[arg(long, default_value = "qr", value_parser = ["qr", "nfc"])]
    channel: String,
    /// Scénario sandbox (X-Dyno-Simulate) : success, insufficient_funds, expired_token…
    #[arg(long)]
    simulate: Option<String>,
}

#[derive(Debug, Args)]
struct InitiateArgs {
    /// Montant en TND, au millime près (45.000).
    #[arg(long, value_parser = amount)]
    amount: Millimes,
    /// Référence de la vente (par défaut : CLI-<horodatage>).
    #[arg(long)]
    pos_reference: Option<String>,
    /// Libellé montré à l'employé dans son application.
    #[arg(long)]
    description: Option<String>,
    /// URL qui recevra le webhook de cette demande seulement.
    #[arg(long)]
    webhook_url: Option<String>,
    #[arg(long, default_value = "qr", value_parser = ["qr", "nfc"])]
    channel: String,
    /// Scénario sandbox (X-Dyno-Simulate) : insufficient_funds, expired_token, webhook_timeout…
    #[arg(long)]
    simulate: Option<String>,
    /// Terminal à fond clair (le QR est dessiné en blocs sombres).
    #[arg(long)]
    light_terminal: bool,
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// payment_request_id
    id: String,
    /// Suit la demande (une interrogation par seconde) jusqu'à confirmed, failed, expired ou
    /// cancelled ; sort avec 0 si elle est confirmée, 1 sinon.
    #[arg(long)]
    watch: bool,
    /// Abandon du suivi après ce nombre de secondes (le délai de polling du seed).
    #[arg(long, default_value_t = 90)]
    timeout: u64,
}

#[derive(Debug, Args)]
struct RefundArgs {
    /// transaction_id ou payment_request_id
    id: String,
    /// Montant à rembourser (par défaut : tout ce qui reste).
    #[arg(long, value_parser = amount)]
    amount: Option<Millimes>,
    /// Clé d'idempotence (par défaut : un UUID nouveau, affiché pour pouvoir réessayer).
    #[arg(long)]
    idempotency_key: Option<String>,
}

#[derive(Debug, Subcommand)]
enum WebhooksCommand {
    /// Vérifie la signature d'une livraison enregistrée ; le corps exact est lu sur l'entrée standard.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// Le secret de webhook du client.
    #[arg(long, env = "DYNO_WEBHOOK_SECRET", hide_env_values = true)]
    secret: String,
    /// Valeur d'un en-tête de signature : `sha256=…` (X-Dyno-Webhook-Signature) ou `v1,…`
    /// (webhook-signature, avec --id et --timestamp). Répétable ; toutes doivent être valides.
    #[arg(long = "signature", required = true)]
    signatures: Vec<String>,
    /// En-tête webhook-timestamp (secondes Unix).
    #[arg(long)]
    timestamp: Option<i64>,
    /// En-tête webhook-id.
    #[arg(long)]
    id: Option<String>,
    /// Refuse aussi une livraison plus ancienne que ce nombre de secondes (contre le rejeu).
    #[arg(long)]
    max_age: Option<i64>,
}

#[derive(Debug, Args)]
struct ListenArgs {
    /// L'URL locale qui reçoit les livraisons (http://localhost:3000/hook).
    #[arg(long)]
    forward_to: String,
    /// Secret de signature (par défaut, pour les identifiants de démonstration : leur secret publié).
    #[arg(long, env = "DYNO_WEBHOOK_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Livraisons à transmettre : celles qui arrivent à partir de maintenant, ou aussi les récentes.
    #[arg(long, value_enum, default_value = "now")]
    since: listen::Since,
    /// Secondes entre deux lectures du journal des livraisons.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=60))]
    interval: u64,
}

/// An exact TND amount; the API refuses zero and negative amounts, so they never leave here.
fn amount(text: &str) -> Result<Millimes, String> {
    match parse_millimes(text.trim()) {
        Some(m) if m.0 > 0 => Ok(m),
        Some(_) => Err("le montant doit être positif".into()),
        None => Err("montant invalide : un nombre avec au plus 3 décimales (12.500)".into()),
    }
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| secs.to_string())
}

/// `HH:MM:SS` (UTC), the prefix of each live line.
pub fn utc_now_hms() -> String {
    let secs = now_secs();
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// Prints an API body as one compact JSON line (or as is, if it is not JSON).
pub fn print_json(body: &[u8]) {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => println!("{value}"),
        Err(_) => println!("{}", String::from_utf8_lossy(body)),
    }
}

/// Aligned `label  value` lines.
fn table(rows: &[(&str, String)]) -> String {
    let width = rows
        .iter()
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0);
    rows.iter()
        .map(|(label, value)| {
            let pad = width - label.chars().count();
            format!("  {label}{}  {value}", " ".repeat(pad))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn money(amount: Millimes, currency: &str) -> String {
    format!("{} {currency}", amount.to_decimal_string())
}

/// What a status adds to its name: the transaction when confirmed, the reason when not.
pub fn status_details(status: &SessionStatus) -> String {
    let mut parts = Vec::new();
    if let Some(id) = &status.transaction_id {
        parts.push(format!("transaction {id}"));
    }
    if let Some(code) = &status.confirmation_code {
        parts.push(format!("code {code}"));
    }
    if let Some(reason) = &status.reason {
        parts.push(format!("motif {reason}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("  ({})", parts.join(", "))
    }
}

/// The state a command runs in: where the API is, and the stored login.
struct Context {
    json: bool,
    base_url: String,
    config_path: PathBuf,
    stored: Option<StoredLogin>,
}

impl Context {
    fn new(cli: &Cli) -> Result<Self, Failure> {
        let config_path =
            config::config_path(|name| std::env::var(name).ok()).ok_or_else(|| {
                Failure::new(format!(
                    "aucun dossier de configuration : définissez HOME, XDG_CONFIG_HOME ou {}",
                    config::CONFIG_ENV
                ))
            })?;
        let stored = config::load(&config_path).map_err(Failure::new)?;
        let base_url = cli
            .base_url
            .clone()
            .or_else(|| stored.as_ref().map(|s| s.base_url.clone()))
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        Ok(Self {
            json: cli.json,
            base_url: base_url.trim_end_matches('/').to_string(),
            config_path,
            stored,
        })
    }

    fn client(&self) -> DynoClient {
        DynoClient::new(&self.base_url)
    }

    /// The stored login, if its token can still be used against this server.
    fn login(&self) -> Result<&StoredLogin, Failure> {
        let stored = self.stored.as_ref().ok_or_else(|| {
            Failure::new(format!(
                "aucun jeton enregistré ({}) ; lancez `dyno-pos login`.",
                self.config_path.display()
            ))
        })?;
        match stored.token_for(&self.base_url, now_secs()) {
            Ok(_) => Ok(stored),
            Err(TokenProblem::Expired { at }) => Err(Failure::new(format!(
                "le jeton enregistré a expiré le {} ; lancez `dyno-pos login`.",
                rfc3339(at)
            ))),
            Err(TokenProblem::OtherServer { stored, asked }) => Err(Failure::new(format!(
                "le jeton enregistré a été obtenu auprès de {stored}, pas de {asked} ; lancez `dyno-pos login --base-url {asked}`."
            ))),
        }
    }

    /// Sends a request; prints the API's JSON with `--json`, else decodes it for `human`.
    fn answer<T: serde::de::DeserializeOwned>(
        &self,
        request: RawRequest,
        human: impl FnOnce(T) -> String,
    ) -> Result<(), Failure> {
        let response = expect_success(self.client().send(request)?)?;
        self.show(&response, human)
    }

    fn show<T: serde::de::DeserializeOwned>(
        &self,
        response: &RawResponse,
        human: impl FnOnce(T) -> String,
    ) -> Result<(), Failure> {
        if self.json {
            print_json(&response.body);
        } else {
            println!("{}", human(response.json()?));
        }
        Ok(())
    }
}

fn with_simulation(request: RawRequest, scenario: &Option<String>) -> RawRequest {
    match scenario {
        Some(scenario) => request.header("X-Dyno-Simulate", scenario.clone()),
        None => request,
    }
}

fn login(context: &Context, args: &LoginArgs) -> Result<(), Failure> {
    let client = context.client();
    let issued_at = now_secs();
    let token = client.token(&args.client_id, &args.client_secret)?;
    let whoami = client.whoami(&token.access_token)?;
    let stored = StoredLogin {
        base_url: context.base_url.clone(),
        client_id: whoami.client_id.clone(),
        access_token: token.access_token,
        scope: token.scope,
        expires_at: issued_at + token.expires_in,
    };
    config::save(&context.config_path, &stored).map_err(Failure::new)?;
    if context.json {
        let summary = serde_json::json!({
            "base_url": stored.base_url,
            "client_id": stored.client_id,
            "merchant_id": whoami.merchant_id,
            "merchant_name": whoami.merchant_name,
            "sandbox": whoami.sandbox,
            "scope": stored.scope,
            "expires_at": rfc3339(stored.expires_at),
            "config": context.config_path,
        });
        println!("{summary}");
    } else {
        println!(
            "Connecté à {} : {} ({}{})\n{}",
            stored.base_url,
            stored.client_id,
            whoami.merchant_name,
            if whoami.sandbox { ", sandbox" } else { "" },
            table(&[
                ("jeton valable jusqu'au", rfc3339(stored.expires_at)),
                ("portée", stored.scope.clone()),
                ("enregistré dans", context.config_path.display().to_string()),
            ])
        );
    }
    Ok(())
}

fn scan(context: &Context, args: &ScanArgs) -> Result<(), Failure> {
    let token = &context.login()?.access_token;
    let request = DynoClient::scan_request(
        token,
        &args.qr,
        args.amount,
        &args.pos_reference,
        &args.channel,
    );
    context.answer(
        with_simulation(request, &args.simulate),
        |paid: ScanSucceeded| {
            format!(
                "Paiement {} : {}\n{}",
                paid.status,
                money(paid.amount, &paid.currency),
                table(&[
                    ("transaction_id", paid.transaction_id),
                    ("confirmation_code", paid.confirmation_code),
                    ("wallet", paid.wallet_type),
                    ("date", paid.transaction_date),
                ])
            )
        },
    )
}

fn initiate(context: &Context, args: &InitiateArgs) -> Result<(), Failure> {
    let token = &context.login()?.access_token;
    let body = InitiateBody {
        amount: args.amount,
        pos_reference: args
            .pos_reference
            .clone()
            .unwrap_or_else(|| format!("CLI-{}", chrono_stamp())),
        channel: args.channel.clone(),
        description: args.description.clone(),
        webhook_url: args.webhook_url.clone(),
        ttl_seconds: None,
    };
    let request = DynoClient::initiate_request_with(token, &body);
    let background = if args.light_terminal {
        terminal_qr::Background::Light
    } else {
        terminal_qr::Background::Dark
    };
    context.answer(
        with_simulation(request, &args.simulate),
        |created: Initiated| {
            // The QR image encodes the wallet link, which the NFC payload also carries.
            let link = decode_nfc(&created.nfc_payload).map(|nfc| nfc.url);
            let drawing = match &link {
                Some(link) => terminal_qr::render(link, background).unwrap_or_else(|e| e),
                None => "(QR indisponible : nfc_payload illisible)".to_string(),
            };
            format!(
                "Demande de paiement {} : {}\n{}\n{drawing}\nSuivre : dyno-pos status {} --watch",
                created.status,
                money(created.amount, &created.currency),
                table(&[
                    ("payment_request_id", created.payment_request_id.clone()),
                    ("pos_reference", body.pos_reference.clone()),
                    ("expire à", created.expires_at),
                    ("lien", link.unwrap_or_default()),
                ]),
                created.payment_request_id
            )
        },
    )
}

/// `20261130T105600123`: a default `pos_reference` unique to the millisecond.
fn chrono_stamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    chrono::DateTime::from_timestamp(now.as_secs() as i64, now.subsec_nanos())
        .map(|t| t.format("%Y%m%dT%H%M%S%3f").to_string())
        .unwrap_or_else(|| now.as_millis().to_string())
}

fn status(context: &Context, args: &StatusArgs) -> Result<(), Failure> {
    let token = &context.login()?.access_token;
    if !args.watch {
        let request = RawRequest::new("GET", format!("/api/v1/pos/payments/{}/status", args.id))
            .auth(dyno_client::Auth::Bearer(token.clone()));
        return context.answer(request, |s: SessionStatus| {
            format!(
                "{}  {}{}\n{}",
                s.payment_request_id,
                s.status,
                status_details(&s),
                table(&[
                    ("montant", money(s.amount, &s.currency)),
                    ("pos_reference", s.pos_reference.clone()),
                    ("expire à", s.expires_at.clone()),
                ])
            )
        });
    }
    let last = watch::watch(
        &context.client(),
        token,
        &args.id,
        context.json,
        Duration::from_secs(args.timeout),
    )?;
    if last.status == "confirmed" {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "la demande {} s'est terminée sans paiement : {}{}.",
            last.payment_request_id,
            last.status,
            status_details(&last)
        )))
    }
}

fn refund(context: &Context, args: &RefundArgs) -> Result<(), Failure> {
    let token = &context.login()?.access_token;
    let key = args
        .idempotency_key
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if args.idempotency_key.is_none() {
        // On stderr, so that `--json` output stays one JSON document.
        eprintln!("Idempotency-Key : {key} (réutilisez-la avec --idempotency-key pour réessayer sans double remboursement)");
    }
    let request = DynoClient::refund_request(token, &args.id, args.amount, &key);
    context.answer(request, |refund: RefundCreated| {
        format!(
            "Remboursement {} : {}\n{}",
            refund.status,
            money(refund.amount, &refund.currency),
            table(&[
                ("refund_id", refund.refund_id),
                ("transaction_id", refund.transaction_id),
                ("paiement", refund.payment_status),
                (
                    "remboursé au total",
                    money(refund.refunded_amount, &refund.currency)
                ),
                ("date", refund.created_at),
            ])
        )
    })
}

/// One signature header value, checked against the body.
fn check_signature(args: &VerifyArgs, body: &[u8], header: &str) -> Result<bool, Failure> {
    let header = header.trim();
    if header.starts_with("sha256=") {
        return Ok(verify_seed_signature(&args.secret, body, header));
    }
    if header.starts_with("v1,") {
        let (Some(id), Some(timestamp)) = (&args.id, args.timestamp) else {
            return Err(Failure::new(
                "une signature webhook-signature (v1,…) se vérifie avec --id (webhook-id) et --timestamp (webhook-timestamp).",
            ));
        };
        return Ok(verify_standard_signature(
            &args.secret,
            id,
            timestamp,
            body,
            header,
        ));
    }
    Err(Failure::new(format!(
        "signature « {header} » : format inconnu (attendu sha256=… ou v1,…)."
    )))
}

fn verify(context: &Context, args: &VerifyArgs) -> Result<(), Failure> {
    let mut body = Vec::new();
    std::io::stdin()
        .read_to_end(&mut body)
        .map_err(|e| Failure::new(format!("lecture de l'entrée standard impossible : {e}")))?;
    let mut invalid = Vec::new();
    for header in &args.signatures {
        if !check_signature(args, &body, header)? {
            invalid.push(header.trim());
        }
    }
    let age = args.timestamp.map(|t| now_secs() - t);
    if context.json {
        let report = serde_json::json!({
            "valid": invalid.is_empty(),
            "invalid_signatures": invalid,
            "age_seconds": age,
        });
        println!("{report}");
    }
    if !invalid.is_empty() {
        let mut sentence = format!(
            "signature invalide pour ce corps ({} octets) et ce secret : {}.",
            body.len(),
            invalid.join(", ")
        );
        // A shell `echo` or an editor often adds a final newline; the signature covers the bytes
        // exactly as sent, so say so instead of letting the user suspect the secret.
        if let Some(trimmed) = body.strip_suffix(b"\n") {
            if invalid
                .iter()
                .all(|h| check_signature(args, trimmed, h).unwrap_or(false))
            {
                sentence.push_str(" Sans le saut de ligne final, elle est valide : enregistrez le corps exact (curl -o, printf '%s').");
            }
        }
        return Err(Failure::new(sentence));
    }
    if let (Some(max), Some(age)) = (args.max_age, age) {
        if age > max {
            return Err(Failure::new(format!(
                "signature valide, mais la livraison date de {age} s (plus de {max} s) : un récepteur la refuserait comme rejeu."
            )));
        }
    }
    if !context.json {
        println!(
            "Signature valide ({} en-tête{}, corps de {} octets).",
            args.signatures.len(),
            if args.signatures.len() > 1 { "s" } else { "" },
            body.len()
        );
    }
    Ok(())
}

fn listen(context: &Context, args: &ListenArgs) -> Result<(), Failure> {
    let stored = context.login()?;
    let secret = match (&args.secret, stored.client_id.as_str()) {
        (Some(secret), _) => secret.clone(),
        (None, demo::CLIENT_ID) => demo::WEBHOOK_SECRET.to_string(),
        (None, client_id) => {
            return Err(Failure::new(format!(
                "précisez --secret : le secret de webhook de {client_id} (seul celui des identifiants de démonstration est connu)."
            )))
        }
    };
    let token_valid = || context.login().map(drop);
    let client = context.client();
    listen::Listener {
        client: &client,
        token: &stored.access_token,
        forward_to: &args.forward_to,
        secret: &secret,
        interval: Duration::from_secs(args.interval),
        json: context.json,
        token_valid: &token_valid,
    }
    .run(args.since)
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let context = Context::new(cli)?;
    match &cli.command {
        Command::Login(args) => login(&context, args),
        Command::Scan(args) => scan(&context, args),
        Command::Initiate(args) => initiate(&context, args),
        Command::Status(args) => status(&context, args),
        Command::Refund(args) => refund(&context, args),
        Command::Webhooks(WebhooksCommand::Verify(args)) => verify(&context, args),
        Command::Listen(args) => listen(&context, args),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("dyno-pos : {}", failure.message);
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("dyno-pos").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn amounts_are_exact_millimes() {
        let cli = parse(&[
            "scan",
            "--qr",
            "eyJ",
            "--amount",
            "12.5",
            "--pos-reference",
            "CAISSE-01",
        ])
        .expect("parses");
        let Command::Scan(scan) = cli.command else {
            panic!("scan")
        };
        assert_eq!(scan.amount, Millimes(12_500));
        assert_eq!(scan.channel, "qr");
        for bad in ["12.5001", "0", "-3", "12,5", "abc", "1e3"] {
            assert!(
                parse(&["initiate", "--amount", bad]).is_err(),
                "{bad} refused"
            );
        }
    }

    #[test]
    fn login_defaults_to_the_demo_credentials_and_global_flags_go_anywhere() {
        let cli = parse(&["login", "--json", "--base-url", "http://x:1"]).expect("parses");
        assert!(cli.json);
        assert_eq!(cli.base_url.as_deref(), Some("http://x:1"));
        let Command::Login(login) = cli.command else {
            panic!("login")
        };
        if std::env::var_os("DYNO_CLIENT_ID").is_none() {
            assert_eq!(login.client_id, demo::CLIENT_ID);
        }
    }

    #[test]
    fn verify_needs_a_signature_and_listen_a_target() {
        assert!(parse(&["webhooks", "verify", "--secret", "s"]).is_err());
        let cli = parse(&[
            "webhooks",
            "verify",
            "--secret",
            "s",
            "--signature",
            "sha256=00",
            "--signature",
            "v1,AA==",
            "--id",
            "dlv",
            "--timestamp",
            "1780000000",
        ])
        .expect("parses");
        let Command::Webhooks(WebhooksCommand::Verify(verify)) = cli.command else {
            panic!("verify")
        };
        assert_eq!(verify.signatures.len(), 2);
        assert!(parse(&["listen"]).is_err());
        let cli = parse(&["listen", "--forward-to", "http://localhost:3000/hook"]).expect("ok");
        let Command::Listen(listen) = cli.command else {
            panic!("listen")
        };
        assert_eq!(listen.since, listen::Since::Now);
        assert_eq!(listen.interval, 2);
        assert!(parse(&["listen", "--forward-to", "u", "--interval", "0"]).is_err());
    }

    #[test]
    fn a_standard_signature_without_its_id_is_a_usage_error() {
        let args = VerifyArgs {
            secret: "s".into(),
            signatures: vec!["v1,AA==".into()],
            timestamp: None,
            id: None,
            max_age: None,
        };
        let failure = check_signature(&args, b"{}", "v1,AA==").unwrap_err();
        assert!(failure.message.contains("--id"));
        assert!(check_signature(&args, b"{}", "md5=00").is_err());
    }
}
