//! Identity of a CT: its name and namespace, both DNS-1123 labels.

use std::fmt;

use serde::{Deserialize, Serialize};

/// [`check_dns_label`]'s rule as a regular expression, for documents that
/// describe it (the API's OpenAPI); with [`MAX_LABEL_LEN`] the whole rule.
pub const DNS_LABEL_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// The longest DNS-1123 label Kubernetes accepts.
pub const MAX_LABEL_LEN: usize = 63;

/// Why a name or namespace was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid {field} {value:?}: {rule} (must be lowercase letters, digits and '-', start and end with a letter or digit, at most 63 characters)"
)]
pub struct NameError {
    /// Which input was bad: "CT name" or "namespace".
    pub field: &'static str,
    /// The value as the user typed it.
    pub value: String,
    /// The part of the rule that the value broke.
    pub rule: &'static str,
}

/// Checks `value` against the DNS-1123 label rule and says which part failed.
pub fn check_dns_label(field: &'static str, value: &str) -> Result<(), NameError> {
    let fail = |rule| {
        Err(NameError {
            field,
            value: value.to_owned(),
            rule,
        })
    };
    if value.is_empty() {
        return fail("it is empty");
    }
    if value.len() > MAX_LABEL_LEN {
        return fail("it is longer than 63 characters");
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return if c.is_ascii_uppercase() {
            fail("it has an uppercase letter")
        } else {
            fail("it has a character other than a-z, 0-9 and '-'")
        };
    }
    if value.starts_with('-') || value.ends_with('-') {
        return fail("it starts or ends with '-'");
    }
    Ok(())
}

macro_rules! label_newtype {
    ($(#[$doc:meta])* $ty:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            /// Validates `value` and wraps it.
            pub fn new(value: impl Into<String>) -> Result<Self, NameError> {
                let value = value.into();
                check_dns_label($field, &value)?;
                Ok(Self(value))
            }

            /// The validated string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = NameError;
            fn try_from(value: String) -> Result<Self, NameError> {
                Self::new(value)
            }
        }

        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.0
            }
        }

        impl std::str::FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }
    };
}

label_newtype!(
    /// A CT's name: a DNS-1123 label, unique within its namespace.
    CtName,
    "CT name"
);
label_newtype!(
    /// A Kubernetes namespace name: a DNS-1123 label.
    Namespace,
    "namespace"
);

/// The Kubernetes node a CT is pinned to: a DNS-1123 subdomain (labels
/// joined by dots, at most 253 characters), as node names are.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeName(String);

impl NodeName {
    /// Validates `value` and wraps it.
    pub fn new(value: impl Into<String>) -> Result<Self, NameError> {
        let value = value.into();
        if value.len() > 253 {
            return Err(NameError {
                field: "node",
                value,
                rule: "it is longer than 253 characters",
            });
        }
        for part in value.split('.') {
            check_dns_label("node", part).map_err(|e| NameError {
                value: value.clone(),
                ..e
            })?;
        }
        Ok(Self(value))
    }

    /// The validated string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for NodeName {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, NameError> {
        Self::new(value)
    }
}

impl From<NodeName> for String {
    fn from(value: NodeName) -> String {
        value.0
    }
}

/// A CT's full identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CtRef {
    /// Namespace the CT lives in.
    pub namespace: Namespace,
    /// The CT's name.
    pub name: CtName,
}

impl CtRef {
    /// Builds a reference from validated parts.
    pub fn new(namespace: Namespace, name: CtName) -> Self {
        Self { namespace, name }
    }
}

impl fmt::Display for CtRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_labels() {
        for ok in ["a", "web1", "my-ct", "0", "a-b-c", &"x".repeat(63)] {
            assert!(CtName::new(ok).is_ok(), "{ok} should be valid");
            assert!(Namespace::new(ok).is_ok(), "{ok} should be valid");
        }
    }

    #[test]
    fn rejects_bad_names_naming_field_value_and_rule() {
        let cases = [
            ("", "it is empty"),
            ("Web_1", "it has an uppercase letter"),
            ("web_1", "it has a character other than a-z, 0-9 and '-'"),
            ("-web", "it starts or ends with '-'"),
            ("web-", "it starts or ends with '-'"),
            ("web.1", "it has a character other than a-z, 0-9 and '-'"),
            ("web 1", "it has a character other than a-z, 0-9 and '-'"),
            ("wéb", "it has a character other than a-z, 0-9 and '-'"),
            ("WEB", "it has an uppercase letter"),
            ("a/b", "it has a character other than a-z, 0-9 and '-'"),
            ("-", "it starts or ends with '-'"),
            ("web\n", "it has a character other than a-z, 0-9 and '-'"),
        ];
        for (bad, rule) in cases {
            let err = CtName::new(bad).unwrap_err();
            assert_eq!(err.rule, rule, "{bad:?}");
            assert!(err.to_string().starts_with("invalid CT name "), "{err}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        let long = "x".repeat(64);
        assert_eq!(
            CtName::new(long).unwrap_err().rule,
            "it is longer than 63 characters"
        );
    }

    #[test]
    fn namespace_errors_name_the_namespace() {
        for bad in ["Default", "kube_system", "", "ns-", &"n".repeat(64)] {
            let err = Namespace::new(bad).unwrap_err();
            assert_eq!(err.field, "namespace");
            assert!(err.to_string().starts_with("invalid namespace "), "{err}");
        }
    }

    #[test]
    fn message_matches_the_documented_form() {
        insta::assert_snapshot!(CtName::new("Web_1").unwrap_err().to_string(), @r#"invalid CT name "Web_1": it has an uppercase letter (must be lowercase letters, digits and '-', start and end with a letter or digit, at most 63 characters)"#);
    }
}
