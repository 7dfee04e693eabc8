//! The stored login of `dyno-pos`: one token, its expiry and the server it belongs to, in a JSON
//! file under the user's configuration directory. Invariant: the file is readable by its owner
//! only (mode 0600, written whole then renamed), and a token is never used past its expiry or
//! against another server than the one that issued it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file that overrides the default location (a path to the file itself).
pub const CONFIG_ENV: &str = "DYNO_POS_CONFIG";
/// A token is treated as expired this long before its real expiry, so a command never starts
/// with a token that dies on the way.
const EXPIRY_MARGIN_SECS: i64 = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLogin {
    pub base_url: String,
    pub client_id: String,
    pub access_token: String,
    pub scope: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Why the stored token cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenProblem {
    Expired { at: i64 },
    OtherServer { stored: String, asked: String },
}

impl StoredLogin {
    /// The token, when it is still valid at `now` (Unix seconds) for `base_url`.
    pub fn token_for(&self, base_url: &str, now: i64) -> Result<&str, TokenProblem> {
        if normalize(base_url) != normalize(&self.base_url) {
            return Err(TokenProblem::OtherServer {
                stored: self.base_url.clone(),
                asked: base_url.to_string(),
            });
        }
        if now + EXPIRY_MARGIN_SECS >= self.expires_at {
            return Err(TokenProblem::Expired {
                at: self.expires_at,
            });
        }
        Ok(&self.access_token)
    }
}

fn normalize(url: &str) -> &str {
    url.trim_end_matches('/')
}

/// Where the login is kept: `$DYNO_POS_CONFIG`, else `$XDG_CONFIG_HOME/dyno-pos/config.json`,
/// else `~/.config/dyno-pos/config.json`. `var` reads the environment (a parameter, for tests).
pub fn config_path(var: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let set = |name: &str| var(name).filter(|v| !v.is_empty());
    if let Some(file) = set(CONFIG_ENV) {
        return Some(PathBuf::from(file));
    }
    // The XDG specification ignores a relative XDG_CONFIG_HOME.
    let config_home = set("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| set("HOME").map(|home| Path::new(&home).join(".config")))?;
    Some(config_home.join("dyno-pos").join("config.json"))
}

/// Reads the stored login; `Ok(None)` when there is none yet.
pub fn load(path: &Path) -> Result<Option<StoredLogin>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            format!(
                "le fichier {} est illisible ({e}) ; relancez `dyno-pos login`",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("lecture de {} impossible : {e}", path.display())),
    }
}

/// Writes the login for its owner only: a temporary file created with mode 0600, then renamed
/// over the old one, so no other user ever sees the token, even for a moment.
pub fn save(path: &Path, login: &StoredLogin) -> Result<(), String> {
    let fail = |what: &str, e: std::io::Error| format!("{what} {} : {e}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(|e| fail("création du dossier de", e))?;
    }
    let temporary = path.with_extension("json.tmp");
    let _ = std::fs::remove_file(&temporary);
    let bytes = serde_json::to_vec_pretty(login).map_err(|e| e.to_string())?;
    write_private(&temporary, &bytes).map_err(|e| fail("écriture de", e))?;
    std::fs::rename(&temporary, path).map_err(|e| fail("écriture de", e))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(expires_at: i64) -> StoredLogin {
        StoredLogin {
            base_url: "http://127.0.0.1:8787".into(),
            client_id: "pos_sandbox_demo".into(),
            access_token: "eyJ.token".into(),
            scope: "payments".into(),
            expires_at,
        }
    }

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_path_follows_override_then_xdg_then_home() {
        assert_eq!(
            config_path(env(&[
                ("DYNO_POS_CONFIG", "/tmp/x.json"),
                ("XDG_CONFIG_HOME", "/xdg"),
                ("HOME", "/home/a")
            ])),
            Some(PathBuf::from("/tmp/x.json"))
        );
        assert_eq!(
            config_path(env(&[("XDG_CONFIG_HOME", "/xdg"), ("HOME", "/home/a")])),
            Some(PathBuf::from("/xdg/dyno-pos/config.json"))
        );
        assert_eq!(
            config_path(env(&[("XDG_CONFIG_HOME", "relative"), ("HOME", "/home/a")])),
            Some(PathBuf::from("/home/a/.config/dyno-pos/config.json"))
        );
        assert_eq!(
            config_path(env(&[("DYNO_POS_CONFIG", ""), ("HOME", "/home/a")])),
            Some(PathBuf::from("/home/a/.config/dyno-pos/config.json"))
        );
        assert_eq!(config_path(env(&[])), None);
    }

    #[test]
    fn a_token_is_refused_when_expired_or_for_another_server() {
        let stored = login(1_000);
        assert_eq!(
            stored.token_for("http://127.0.0.1:8787/", 900),
            Ok("eyJ.token")
        );
        assert_eq!(
            stored.token_for("http://127.0.0.1:8787", 995),
            Err(TokenProblem::Expired { at: 1_000 }),
            "within the margin it counts as expired"
        );
        assert_eq!(
            stored.token_for("http://127.0.0.1:8787", 2_000),
            Err(TokenProblem::Expired { at: 1_000 })
        );
        assert!(matches!(
            stored.token_for("https://sandbox.example", 900),
            Err(TokenProblem::OtherServer { .. })
        ));
    }

    #[test]
    fn saved_logins_read_back_and_stay_private() {
        let dir = std::env::temp_dir().join(format!("dyno-pos-config-{}", std::process::id()));
        let path = dir.join("nested").join("config.json");
        assert_eq!(load(&path), Ok(None));
        save(&path, &login(1_000)).expect("save");
        save(&path, &login(2_000)).expect("save over an existing login");
        assert_eq!(load(&path), Ok(Some(login(2_000))));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode();
            assert_eq!(mode(&path) & 0o777, 0o600);
            assert_eq!(mode(path.parent().expect("dir")) & 0o777, 0o700);
        }
        std::fs::write(&path, b"not json").expect("corrupt it");
        assert!(load(&path).unwrap_err().contains("dyno-pos login"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
