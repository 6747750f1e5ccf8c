//! Validation of the `admin:` block: its address, and where the admin
//! bearer token comes from (`admin.token_file` / `admin.token_env`). A file
//! (a mounted Kubernetes Secret) or an environment variable, never the
//! config file itself, which is shown by `/config` and usually lives in
//! version control. Read at validation, so a reload picks up a rotated
//! token and a missing one is a config error with a location.

use serde_saphyr::Spanned;

use super::super::error::ConfigError;
use super::super::file::admin::AdminFile;
use super::super::settings::admin::{AdminSettings, AdminToken};
use super::super::settings::defaults;
use super::{error, scalar};

/// Shortest token accepted: a guessable token is no protection.
const MIN_TOKEN_LEN: usize = 16;

/// `admin:`; absent: loopback, no token.
pub(super) fn admin(file: Option<&AdminFile>) -> Result<AdminSettings, ConfigError> {
    let address = match file.and_then(|a| a.address.as_ref()) {
        Some(raw) => {
            scalar::bind_address(&raw.value).map_err(|m| error(raw, "admin.address", m))?
        }
        None => defaults::ADMIN_ADDRESS,
    };
    let token = token(file)?;
    Ok(AdminSettings { address, token })
}

/// The configured token, if any.
fn token(file: Option<&AdminFile>) -> Result<Option<AdminToken>, ConfigError> {
    let (from_file, from_env) = match file {
        Some(f) => (f.token_file.as_ref(), f.token_env.as_ref()),
        None => (None, None),
    };
    let (raw, key, text) = match (from_file, from_env) {
        (Some(_), Some(env)) => {
            return Err(error(
                env,
                "admin.token_env",
                "set either admin.token_file or admin.token_env, not both",
            ));
        }
        (Some(path), None) => {
            let text = std::fs::read_to_string(&path.value).map_err(|e| {
                error(
                    path,
                    "admin.token_file",
                    format!("cannot read {}: {e}", path.value),
                )
            })?;
            (path, "admin.token_file", text)
        }
        (None, Some(var)) => {
            let text = std::env::var(&var.value)
                .map_err(|e| error(var, "admin.token_env", format!("${}: {e}", var.value)))?;
            (var, "admin.token_env", text)
        }
        (None, None) => return Ok(None),
    };
    checked(raw, key, text.trim()).map(Some)
}

fn checked(raw: &Spanned<String>, key: &str, token: &str) -> Result<AdminToken, ConfigError> {
    if token.len() < MIN_TOKEN_LEN {
        return Err(error(
            raw,
            key,
            format!("the admin token must be at least {MIN_TOKEN_LEN} characters"),
        ));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(error(
            raw,
            key,
            "the admin token must be printable ASCII without spaces",
        ));
    }
    Ok(AdminToken::new(token.to_owned()))
}
