//! Reading configuration files: regular files only, size-capped; a warning for secrets in clear in a readable file.

use std::io::Read;
use std::path::Path;

use cloudphone_core::registry::Registry;

use super::{ConfigError, MAX_CONFIG_BYTES};

/// Reads a configuration file: a regular file of at most [`MAX_CONFIG_BYTES`], in UTF-8.
pub(super) fn read_config_file(path: &Path) -> Result<String, ConfigError> {
    let read_error = |message: String| ConfigError::Read {
        path: path.display().to_string(),
        message,
    };
    let check = |meta: &std::fs::Metadata| {
        if !meta.is_file() {
            return Err(read_error(format!(
                "not a regular file ({}); the configuration must be a regular file",
                file_kind(meta)
            )));
        }
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(too_large(path));
        }
        Ok(())
    };
    // Checked before opening: opening a FIFO blocks until something writes to it.
    check(&std::fs::metadata(path).map_err(|e| read_error(e.to_string()))?)?;
    let file = std::fs::File::open(path).map_err(|e| read_error(e.to_string()))?;
    check(&file.metadata().map_err(|e| read_error(e.to_string()))?)?;
    let mut bytes = Vec::new();
    // The file may grow after the check: never read more than the cap (and one byte to tell).
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(e.to_string()))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_large(path));
    }
    String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        read_error(format!("not UTF-8 (line {line})"))
    })
}

pub(super) fn too_large(path: &Path) -> ConfigError {
    ConfigError::Read {
        path: path.display().to_string(),
        message: format!(
            "larger than the {} MiB cap on configuration files",
            MAX_CONFIG_BYTES / (1024 * 1024)
        ),
    }
}

pub(super) fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// Whether `doc` has a secret key whose value is written out rather than read from `${VAR}`.
pub(super) fn holds_clear_secret(doc: &str, registry: &Registry) -> bool {
    let Ok(root) = doc.parse::<toml::Table>() else {
        return false;
    };
    let Some(toml::Value::Table(providers)) = root.get("providers") else {
        return false;
    };
    providers.values().any(|p| {
        p.as_table().is_some_and(|t| {
            // The keys its vendor calls secret (or every vendor's, for an unknown type).
            let keys: Vec<&str> = match t
                .get("type")
                .and_then(|v| v.as_str())
                .and_then(|k| registry.get(k))
            {
                Some(v) => v.secret_keys().to_vec(),
                None => registry.secret_keys().collect(),
            };
            keys.iter().any(|k| {
                t.get(*k)
                    .and_then(|v| v.as_str())
                    .is_some_and(|v| !v.trim_start().starts_with("${"))
            })
        })
    })
}

#[cfg(unix)]
pub(super) fn warn_if_exposed(path: &Path, doc: &str, registry: &Registry) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.permissions().mode() & 0o044 != 0 && holds_clear_secret(doc, registry) {
        tracing::warn!(
            path = %path.display(),
            "configuration file holds secrets and is readable by other users; \
             run `chmod 600` on it or read the secrets from ${{VAR}}s"
        );
    }
}

#[cfg(not(unix))]
pub(super) fn warn_if_exposed(_path: &Path, _doc: &str, _registry: &Registry) {}
