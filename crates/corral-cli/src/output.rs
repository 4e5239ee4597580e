//! Rendering for people (tables) and scripts (JSON, YAML).

use corral_core::service::{CtDetails, CtView};
use serde::Serialize;

use crate::args::Format;
use crate::error::CommandError;

/// A kubectl-style age: 42s, 5m, 3h, 12d.
pub fn age(created: Option<&str>, now: jiff::Timestamp) -> String {
    let Some(t) = created.and_then(|c| c.parse::<jiff::Timestamp>().ok()) else {
        return "-".into();
    };
    let secs = now.as_second().saturating_sub(t.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Left-aligned columns separated by three spaces, like kubectl.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let n = cells.len();
        for (i, c) in cells.into_iter().enumerate() {
            out.push_str(c);
            if i + 1 < n {
                out.push_str(&" ".repeat(widths[i] - c.chars().count() + 3));
            }
        }
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

/// The `ct list` table.
pub fn list_table(cts: &[CtView], all_namespaces: bool, now: jiff::Timestamp) -> String {
    let mut header = vec![
        "NAME", "STATUS", "MODE", "IMAGE", "CPU", "MEM", "DISK", "NODE", "IP", "AGE",
    ];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    let rows: Vec<Vec<String>> = cts
        .iter()
        .map(|c| {
            let mut r = vec![
                c.spec.id.name.to_string(),
                c.status.to_string(),
                c.spec.mode.as_str().to_string(),
                c.spec.image.to_string(),
                c.spec.cpu.to_string(),
                c.spec.memory.to_string(),
                c.spec.disk.to_string(),
                c.node.clone().unwrap_or_else(|| "-".into()),
                c.ip.clone().unwrap_or_else(|| "-".into()),
                age(c.created.as_deref(), now),
            ];
            if all_namespaces {
                r.insert(0, c.spec.id.namespace.to_string());
            }
            r
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    table(&header, &rows)
}

/// The `ct show` text.
pub fn details_text(d: &CtDetails, now: jiff::Timestamp) -> String {
    let v = &d.view;
    let dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    let mut s = String::new();
    let mut kv = |k: &str, val: String| s.push_str(&format!("{k:<11}{val}\n"));
    kv("Name:", v.spec.id.name.to_string());
    kv("Namespace:", v.spec.id.namespace.to_string());
    kv(
        "Status:",
        match &v.reason {
            Some(r) => format!("{} ({r})", v.status),
            None => v.status.to_string(),
        },
    );
    kv("Mode:", v.spec.mode.as_str().to_string());
    kv("Image:", v.spec.image.to_string());
    kv("CPU:", v.spec.cpu.to_string());
    kv("Memory:", v.spec.memory.to_string());
    kv("Disk:", v.spec.disk.to_string());
    // A pinned CT (`create --node`) says so, even while stopped.
    kv(
        "Node:",
        match &v.spec.node {
            Some(pin) => format!("{} (pinned to {pin})", dash(&v.node)),
            None => dash(&v.node),
        },
    );
    kv("IP:", dash(&v.ip));
    kv("Pod:", dash(&v.pod));
    kv(
        "Service:",
        v.service
            .as_ref()
            .map(|s| {
                format!(
                    "{} (cluster IP {})",
                    s.name,
                    s.cluster_ip.clone().unwrap_or_else(|| "-".into())
                )
            })
            .unwrap_or_else(|| "-".into()),
    );
    kv(
        "Volume:",
        format!(
            "persistentvolumeclaim/{} ({}, storage class {})",
            v.volume.name,
            v.volume
                .capacity
                .clone()
                .unwrap_or_else(|| "not bound yet".into()),
            v.volume
                .storage_class
                .clone()
                .unwrap_or_else(|| "default".into())
        ),
    );
    kv("Age:", age(v.created.as_deref(), now));
    if d.events.is_empty() {
        s.push_str("Events:    <none>\n");
    } else {
        s.push_str("Events:\n");
        let rows: Vec<Vec<String>> = d
            .events
            .iter()
            .map(|e| {
                vec![
                    e.kind.clone(),
                    e.reason.clone(),
                    age(e.last_seen.as_deref(), now),
                    e.object.clone(),
                    e.message.clone(),
                ]
            })
            .collect();
        for line in table(&["TYPE", "REASON", "AGE", "OBJECT", "MESSAGE"], &rows).lines() {
            s.push_str("  ");
            s.push_str(line);
            s.push('\n');
        }
    }
    s
}

/// Serialises for `-o json|yaml`.
pub fn machine<T: Serialize>(value: &T, format: Format) -> Result<String, CommandError> {
    let r = match format {
        Format::Json => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        Format::Yaml => serde_yaml::to_string(value).map_err(|e| e.to_string()),
        Format::Table => Err("table is not a machine format".to_string()),
    };
    r.map_err(|e| CommandError {
        kind: crate::error::Kind::Internal,
        message: format!("rendering output: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        let now: jiff::Timestamp = "2026-01-10T12:00:00Z".parse().unwrap();
        let cases = [
            (Some("2026-01-10T11:59:18Z"), "42s"),
            (Some("2026-01-10T11:55:00Z"), "5m"),
            (Some("2026-01-10T07:00:00Z"), "5h"),
            (Some("2026-01-01T12:00:00Z"), "9d"),
            (Some("garbage"), "-"),
            (None, "-"),
        ];
        for (created, want) in cases {
            assert_eq!(age(created, now), want);
        }
    }

    #[test]
    fn tables_align() {
        let t = table(
            &["A", "LONGER"],
            &[
                vec!["xxxx".into(), "y".into()],
                vec!["z".into(), "w".into()],
            ],
        );
        insta::assert_snapshot!(t, @r"
        A      LONGER
        xxxx   y
        z      w
        ");
    }
}
