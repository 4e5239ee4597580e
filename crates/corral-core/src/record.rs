//! The durable record of a CT (ADR-0001): the CT's volume claim carries it,
//! as labels for selection and one annotation holding the spec as JSON.
//! This module owns the names and the encoding; corral-k8s writes them.

use std::collections::BTreeMap;

use crate::name::{CtName, CtRef};
use crate::spec::CtSpec;

/// Label every object corral makes carries: `app.kubernetes.io/managed-by=corral`.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "corral");
/// Label with the CT's name.
pub const CT_LABEL: &str = "corral.dev/ct";
/// Label with the workload kind (`ct`), so VMs can share the label space.
pub const KIND_LABEL: (&str, &str) = ("corral.dev/kind", "ct");
/// Annotation with the spec as JSON.
pub const SPEC_ANNOTATION: &str = "corral.dev/spec";
/// Annotation saying whether the create finished: `incomplete` or `complete`.
pub const CREATE_ANNOTATION: &str = "corral.dev/create";
/// The main container's name.
pub const MAIN_CONTAINER: &str = "ct";
/// The privileged seed init container's name.
pub const SEED_CONTAINER: &str = "seed";
/// Version of the record format written in the spec annotation.
pub const RECORD_VERSION: u32 = 1;

/// Label selector that finds every CT object: `app.kubernetes.io/managed-by=corral,corral.dev/kind=ct`.
pub fn selector() -> String {
    format!(
        "{}={},{}={}",
        MANAGED_BY.0, MANAGED_BY.1, KIND_LABEL.0, KIND_LABEL.1
    )
}

/// Labels on every object of one CT; the Service selects the pod by them.
pub fn labels(name: &CtName) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
        (KIND_LABEL.0.to_string(), KIND_LABEL.1.to_string()),
        (CT_LABEL.to_string(), name.to_string()),
    ])
}

/// Name of the CT's Service. A Service name must start with a letter, so a
/// CT named with a leading digit gets `ct-` in front (cut to 63 characters).
pub fn service_name(name: &CtName) -> String {
    let s = name.as_str();
    if s.starts_with(|c: char| c.is_ascii_lowercase()) {
        s.to_string()
    } else {
        let mut v = format!("ct-{s}");
        v.truncate(63);
        v.trim_end_matches('-').to_string()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope {
    version: u32,
    #[serde(flatten)]
    spec: CtSpec,
}

/// Why a record could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The spec annotation is missing.
    #[error("it has no {SPEC_ANNOTATION} annotation")]
    MissingSpec,
    /// The spec annotation is not valid JSON for this version.
    #[error("its {SPEC_ANNOTATION} annotation does not parse")]
    ParseSpec(#[source] serde_json::Error),
    /// The spec names another CT than the object carrying it.
    #[error("its spec names {found}, not {expected}")]
    WrongCt {
        /// The object's namespace/name.
        expected: String,
        /// The spec's.
        found: String,
    },
    /// A newer corral wrote it.
    #[error("it is record version {0}; this corral reads version {RECORD_VERSION}")]
    Version(u32),
}

/// Annotations of a record being written (marked incomplete).
pub fn encode(spec: &CtSpec) -> BTreeMap<String, String> {
    let json = serde_json::to_string(&Envelope {
        version: RECORD_VERSION,
        spec: spec.clone(),
    })
    .unwrap_or_default();
    BTreeMap::from([
        (SPEC_ANNOTATION.to_string(), json),
        (CREATE_ANNOTATION.to_string(), "incomplete".to_string()),
    ])
}

/// Reads a record back from its object's annotations.
pub fn decode(
    id: &CtRef,
    annotations: &BTreeMap<String, String>,
) -> Result<(CtSpec, bool), RecordError> {
    let raw = annotations
        .get(SPEC_ANNOTATION)
        .ok_or(RecordError::MissingSpec)?;
    let env: Envelope = serde_json::from_str(raw).map_err(RecordError::ParseSpec)?;
    if env.version != RECORD_VERSION {
        return Err(RecordError::Version(env.version));
    }
    if &env.spec.id != id {
        return Err(RecordError::WrongCt {
            expected: id.to_string(),
            found: env.spec.id.to_string(),
        });
    }
    let complete = annotations.get(CREATE_ANNOTATION).map(String::as_str) == Some("complete");
    Ok((env.spec, complete))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{CreateCtInput, CreateCtRequest};

    fn spec() -> CtSpec {
        CreateCtRequest::validate(&CreateCtInput {
            namespace: "default".into(),
            name: "web1".into(),
            image: "alpine".into(),
            ..Default::default()
        })
        .unwrap()
        .spec
    }

    #[test]
    fn round_trips() {
        let s = spec();
        let mut a = encode(&s);
        assert_eq!(decode(&s.id, &a).unwrap(), (s.clone(), false));
        a.insert(CREATE_ANNOTATION.into(), "complete".into());
        assert_eq!(decode(&s.id, &a).unwrap(), (s.clone(), true));
        insta::assert_snapshot!(a[SPEC_ANNOTATION], @r#"{"version":1,"namespace":"default","name":"web1","image":"docker.io/library/alpine:latest","cpu":"1","memory":"512Mi","disk":"5Gi","mode":"unprivileged"}"#);
    }

    #[test]
    fn bad_records_are_reported() {
        let s = spec();
        let other = CtRef::new(s.id.namespace.clone(), CtName::new("other").unwrap());
        let cases: Vec<(BTreeMap<String, String>, CtRef, &str)> = vec![
            (BTreeMap::new(), s.id.clone(), "has no"),
            (
                BTreeMap::from([(SPEC_ANNOTATION.into(), "{".into())]),
                s.id.clone(),
                "does not parse",
            ),
            (encode(&s), other, "names default/web1"),
            (
                BTreeMap::from([(
                    SPEC_ANNOTATION.into(),
                    encode(&s)[SPEC_ANNOTATION].replace("\"version\":1", "\"version\":9"),
                )]),
                s.id.clone(),
                "record version 9",
            ),
        ];
        for (ann, id, want) in cases {
            let e = decode(&id, &ann).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn service_names_start_with_a_letter() {
        for (ct, svc) in [("web1", "web1"), ("1web", "ct-1web")] {
            assert_eq!(service_name(&CtName::new(ct).unwrap()), svc);
        }
        let long = CtName::new(format!("9{}", "a".repeat(62))).unwrap();
        assert_eq!(service_name(&long).len(), 63);
    }
}
