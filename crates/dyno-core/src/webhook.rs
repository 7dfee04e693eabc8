//! Webhooks: the receiver URL policy. Invariant: in production a webhook only ever goes to a public
//! HTTPS host; loopback, private, link-local and internal names are refused when configured.

use std::net::IpAddr;

use url::{Host, Url};

/// Checks a merchant's webhook URL. Sandbox accepts `http` and local hosts so integrators (and the
/// tests) can receive on their own machine.
pub fn validate_webhook_url(text: &str, production: bool) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("URL invalide: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err("seuls http et https sont acceptés".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("l'URL ne doit pas contenir d'identifiants".into());
    }
    if url.fragment().is_some() {
        return Err("l'URL ne doit pas contenir de fragment".into());
    }
    if !production {
        return Ok(url);
    }
    if url.scheme() != "https" {
        return Err("https est obligatoire en production".into());
    }
    match url.host() {
        Some(Host::Ipv4(ip)) => refuse_private(IpAddr::V4(ip))?,
        Some(Host::Ipv6(ip)) => refuse_private(IpAddr::V6(ip))?,
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let internal = [
                "localhost",
                "local",
                "internal",
                "localdomain",
                "home.arpa",
                "lan",
            ];
            if internal
                .iter()
                .any(|s| name == *s || name.ends_with(&format!(".{s}")))
                || !name.contains('.')
            {
                return Err(format!("l'hôte {name} n'est pas public"));
            }
        }
        None => return Err("hôte manquant".into()),
    }
    Ok(url)
}

fn refuse_private(ip: IpAddr) -> Result<(), String> {
    let private = match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]) // CGNAT 100.64/10
                || v4.octets()[0] == 0
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (v6.segments()[0] & 0xffc0) == 0xfe80 // link local fe80::/10
                || v6.to_ipv4_mapped().is_some_and(|v4| refuse_private(IpAddr::V4(v4)).is_err())
        }
    };
    if private {
        Err(format!("l'adresse {ip} est privée ou locale"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_requires_public_https() {
        assert!(validate_webhook_url("https://pos.example.tn/hooks/dyno", true).is_ok());
        for bad in [
            "http://pos.example.tn/hooks",
            "https://127.0.0.1/hooks",
            "https://10.1.2.3/hooks",
            "https://192.168.1.10/hooks",
            "https://169.254.169.254/latest",
            "https://[::1]/hooks",
            "https://[fd00::1]/hooks",
            "https://[::ffff:10.0.0.1]/hooks",
            "https://localhost/hooks",
            "https://api.internal/hooks",
            "https://printer.local/hooks",
            "https://intranet/hooks",
            "https://user:pw@pos.example.tn/hooks",
            "ftp://pos.example.tn/",
            "not a url",
        ] {
            assert!(validate_webhook_url(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn sandbox_allows_local_receivers() {
        assert!(validate_webhook_url("http://127.0.0.1:9999/hook", false).is_ok());
        assert!(validate_webhook_url("ftp://127.0.0.1/", false).is_err());
    }
}
