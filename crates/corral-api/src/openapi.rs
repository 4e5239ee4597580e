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
    modifiers(&BearerAuth),
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
