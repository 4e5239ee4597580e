//! OCI image references, normalised the way container runtimes do.
//!
//! `alpine` → `docker.io/library/alpine:latest`; `ghcr.io/o/r` →
//! `ghcr.io/o/r:latest`; a reference with a digest keeps its digest (and its
//! tag, if it had one). Malformed references are refused before any IO.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an image reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --image {value:?}: {problem}")]
pub struct ImageError {
    /// The reference as the user typed it.
    pub value: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// A normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageRef {
    /// Registry host, with port if any (`docker.io`, `localhost:5000`).
    pub registry: String,
    /// Repository path (`library/alpine`).
    pub repository: String,
    /// Tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// Content digest (`sha256:…`).
    pub digest: Option<String>,
}

const DEFAULT_REGISTRY: &str = "docker.io";

fn is_path_component(c: &str) -> bool {
    // [a-z0-9]+ separated by '.', '_', '__' or one or more '-'.
    if c.is_empty() {
        return false;
    }
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|x| x.is_ascii_digit()) || p.parse::<u16>().is_err())
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|x| x.is_ascii_alphanumeric() || x == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn is_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

fn is_digest(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = !alg.is_empty()
        && alg.bytes().all(|x| {
            x.is_ascii_lowercase() || x.is_ascii_digit() || matches!(x, b'+' | b'.' | b'_' | b'-')
        });
    let hex_ok = hex.len() >= 32
        && hex
            .bytes()
            .all(|x| x.is_ascii_hexdigit() && !x.is_ascii_uppercase());
    let sha_ok = alg != "sha256" || hex.len() == 64;
    alg_ok && hex_ok && sha_ok
}

impl ImageRef {
    /// Parses and normalises a reference as given to `--image`.
    pub fn parse(input: &str) -> Result<Self, ImageError> {
        let fail = |problem| {
            Err(ImageError {
                value: input.to_owned(),
                problem,
            })
        };
        if input.is_empty() {
            return fail("it is empty; give an image such as docker.io/library/debian:bookworm");
        }
        if input.len() > 512 || input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return fail("it has spaces or control characters, or is too long");
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => {
                if !is_digest(d) {
                    return fail(
                        "the digest after '@' must look like sha256:<64 lowercase hex digits>",
                    );
                }
                (r, Some(d.to_owned()))
            }
            None => (input, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                let t = &rest[at + 1..];
                if !is_tag(t) {
                    return fail(
                        "the tag after ':' must be letters, digits, '_', '.' or '-', at most 128, not starting with '.' or '-'",
                    );
                }
                (&rest[..at], Some(t.to_owned()))
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return fail("it has no repository name");
        }
        let mut parts: Vec<&str> = name.split('/').collect();
        let first = parts[0];
        let registry = if parts.len() > 1
            && (first.contains('.') || first.contains(':') || first == "localhost")
        {
            if !is_domain(first) {
                return fail("the registry host is not a valid host[:port]");
            }
            parts.remove(0);
            first.to_owned()
        } else {
            DEFAULT_REGISTRY.to_owned()
        };
        if parts.iter().any(|p| !is_path_component(p)) {
            return fail(
                "repository path components must be lowercase letters and digits, separated by '.', '_', '__' or '-'",
            );
        }
        let mut repository = parts.join("/");
        if registry == DEFAULT_REGISTRY && parts.len() == 1 {
            repository = format!("library/{repository}");
        }
        if registry.len() + 1 + repository.len() > 255 {
            return fail("the name is longer than 255 characters");
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_owned()),
            _ => tag,
        };
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The last path component of the repository (`debian` for `docker.io/library/debian`).
    pub fn short_name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl TryFrom<String> for ImageRef {
    type Error = ImageError;
    fn try_from(s: String) -> Result<Self, ImageError> {
        ImageRef::parse(&s)
    }
}

impl From<ImageRef> for String {
    fn from(i: ImageRef) -> String {
        i.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn normalises_like_a_runtime() {
        let cases = [
            ("alpine", "docker.io/library/alpine:latest"),
            ("alpine:3.20", "docker.io/library/alpine:3.20"),
            (
                "docker.io/library/alpine:latest",
                "docker.io/library/alpine:latest",
            ),
            (
                "library/debian:bookworm",
                "docker.io/library/debian:bookworm",
            ),
            ("user/app", "docker.io/user/app:latest"),
            ("ghcr.io/org/app:v1.2", "ghcr.io/org/app:v1.2"),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            ("localhost/app", "localhost/app:latest"),
            (
                "registry.example.com:443/a/b/c:tag",
                "registry.example.com:443/a/b/c:tag",
            ),
            ("quay.io/fedora/fedora:40", "quay.io/fedora/fedora:40"),
            ("my-reg.io/a__b/c.d/e-f", "my-reg.io/a__b/c.d/e-f:latest"),
        ];
        for (input, want) in cases {
            assert_eq!(ImageRef::parse(input).unwrap().to_string(), want, "{input}");
        }
        let with_digest = ImageRef::parse(&format!("debian@{D}")).unwrap();
        assert_eq!(
            with_digest.to_string(),
            format!("docker.io/library/debian@{D}")
        );
        let both = ImageRef::parse(&format!("debian:12@{D}")).unwrap();
        assert_eq!(both.tag.as_deref(), Some("12"));
        assert_eq!(both.short_name(), "debian");
    }

    #[test]
    fn rejects_malformed_references() {
        let cases = [
            "",
            "Alpine",
            "alpine:",
            "alpine:-bad",
            "alpine:.bad",
            "alpine@sha256:abc",
            "alpine@",
            "ALPINE/x",
            "foo//bar",
            "/alpine",
            "alpine/",
            "bad host:5000/app",
            "reg.io:99999/app",
            "reg.io:/app",
            "a b",
            "app:tag:extra",
            "a---.b",
            "-app",
            "app_",
            "with\ttab",
            &format!("debian@sha256:{}", "A".repeat(64)),
            &format!("docker.io/{}", "a".repeat(300)),
        ];
        for input in cases {
            let e = ImageRef::parse(input).unwrap_err();
            assert!(
                e.to_string().starts_with("invalid --image "),
                "{input}: {e}"
            );
        }
    }
}
