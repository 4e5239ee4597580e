//! The OpenAPI 3 document, generated from the handlers and wire types.
//! Checked in as `docs/openapi.json`; a test fails when it drifts.

use utoipa::OpenApi;

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Corral CT API", description = "Containers (CTs) on Kubernetes. Every request acts as its caller: send the caller's Kubernetes bearer token."),
    paths(
        crate::list_all,
        crate::list_ns,
        crate::create,
        crate::show,
        crate::delete,
        crate::start,
        crate::stop,
        crate::tree,
        crate::watch,
        crate::ticket
    ),
    components(schemas(
        crate::wire::CreateCt,
        crate::wire::Ct,
        crate::wire::CtList,
        crate::wire::CtWithEvents,
        crate::wire::Event,
        crate::wire::Tree,
        crate::wire::TreeNode,
        crate::wire::Guest,
        crate::wire::TicketRequest,
        crate::wire::Ticket,
        crate::wire::Problem
    )),
    modifiers(&BearerAuth, &DnsLabels),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Namespaces and CT names are DNS labels (`corral_core::name`): this says
/// so, in one place, for every parameter and body field that carries one.
struct DnsLabels;

impl utoipa::Modify for DnsLabels {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use corral_core::name::{DNS_LABEL_PATTERN, MAX_LABEL_LEN};
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::Schema;
        let label = |s: &mut RefOr<Schema>| {
            if let RefOr::T(Schema::Object(o)) = s {
                o.pattern = Some(DNS_LABEL_PATTERN.into());
                o.max_length = Some(MAX_LABEL_LEN);
            }
        };
        let is_label = |name: &str| matches!(name, "ns" | "name" | "namespace");
        for item in openapi.paths.paths.values_mut() {
            for op in [&mut item.get, &mut item.post, &mut item.delete]
                .into_iter()
                .flatten()
            {
                for p in op.parameters.iter_mut().flatten() {
                    if is_label(&p.name)
                        && let Some(schema) = p.schema.as_mut()
                    {
                        label(schema);
                    }
                }
            }
        }
        if let Some(c) = openapi.components.as_mut() {
            for body in ["CreateCt", "TicketRequest"] {
                if let Some(RefOr::T(Schema::Object(o))) = c.schemas.get_mut(body) {
                    for (name, schema) in o.properties.iter_mut() {
                        if is_label(name) {
                            label(schema);
                        }
                    }
                }
            }
        }
    }
}

/// The document as pretty JSON.
pub fn json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".into())
        + "\n"
}

#[cfg(test)]
mod tests {
    #[test]
    fn checked_in_openapi_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        let want = super::json();
        if std::fs::read_to_string(&path).unwrap_or_default() != want {
            std::fs::write(&path, &want).unwrap();
            panic!("docs/openapi.json was stale and has been rewritten; commit it");
        }
    }
}
