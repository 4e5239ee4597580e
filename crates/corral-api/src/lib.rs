//! # corral-api
//!
//! The REST API and websocket console of Corral CT, on the same
//! [`CtService`](corral_core::CtService) as the CLI. [`router`] builds the
//! whole app from an [`AppState`]; `corral serve` runs it.
//!
//! Architecture invariant: only this crate knows the JSON wire types
//! ([`wire`]); handlers convert to and from core types and hold no CT rule.
//! Every request acts as its caller (bearer token forwarded, ADR-0004).

pub mod backend;
pub mod error;
pub mod openapi;
pub mod tickets;
pub mod tls;
pub mod tty;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use corral_core::{CreateCtRequest, CtName, CtRef, Namespace};
use k8s_openapi::api::core::v1::Node;
use serde::Deserialize;

pub use backend::{Backend, Caller, KubeBackend};
use error::ApiError;
use wire::{Ct, CtList, CtWithEvents, Guest, Ticket, TicketRequest, Tree, TreeNode};

/// Shared state of the app.
#[derive(Clone)]
pub struct AppState {
    /// Where callers' clients come from.
    pub backend: Arc<dyn Backend>,
    /// Console tickets.
    pub tickets: Arc<tickets::Tickets>,
    /// Origins, besides the server's own, that may open consoles.
    pub allowed_origins: Arc<Vec<String>>,
    /// The built web UI (`cargo xtask ui`), served at `/` when set.
    pub ui_dir: Option<std::path::PathBuf>,
}

impl AppState {
    /// State over a backend, allowing only the server's own origin.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        AppState {
            backend,
            tickets: Arc::new(tickets::Tickets::default()),
            allowed_origins: Arc::new(Vec::new()),
            ui_dir: None,
        }
    }
}

/// Largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;
/// Longest a REST request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most requests served at once.
pub const MAX_CONCURRENT: usize = 512;

/// The whole app.
pub fn router(state: AppState) -> Router {
    let rest = Router::new()
        .route("/api/v1/cts", get(list_all))
        .route("/api/v1/namespaces/{ns}/cts", get(list_ns).post(create))
        .route(
            "/api/v1/namespaces/{ns}/cts/{name}",
            get(show).delete(delete),
        )
        .route("/api/v1/namespaces/{ns}/cts/{name}/start", post(start))
        .route("/api/v1/namespaces/{ns}/cts/{name}/stop", post(stop))
        .route("/api/v1/tree", get(tree))
        .route("/api/v1/tty-tickets", post(ticket))
        .route("/api/openapi.json", get(openapi_json))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    let app = Router::new()
        .merge(rest)
        .route("/api/tty/{ns}/{name}", get(tty::tty))
        .route("/api/v1/watch", get(watch))
        .route(
            "/api/{*rest}",
            axum::routing::any(|| async { ApiError::not_found("no such endpoint") }),
        );
    let app = match &state.ui_dir {
        Some(dir) => app.fallback_service(
            tower_http::services::ServeDir::new(dir)
                .fallback(tower_http::services::ServeFile::new(dir.join("index.html"))),
        ),
        None => app.fallback(|| async {
            ApiError::not_found("no such endpoint (the web UI is served with --ui-dir)")
        }),
    };
    app.layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            MAX_CONCURRENT,
        ))
        .with_state(state)
}

/// The caller's bearer token, or 401.
pub fn bearer(headers: &HeaderMap) -> Result<String, ApiError> {
    let v = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "send the caller's Kubernetes token as `Authorization: Bearer <token>`",
            )
        })?;
    match v.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
            Ok(t.trim().to_string())
        }
        _ => Err(ApiError::unauthorized(
            "the Authorization header must be `Bearer <token>`",
        )),
    }
}

/// A body that could not be read as the expected JSON.
fn body_error(e: axum::extract::rejection::JsonRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "too_large",
            detail: format!("the request body is larger than {MAX_BODY} bytes"),
            field: None,
        }
    } else {
        ApiError::bad_request("bad_body", e.body_text())
    }
}

fn invalid(e: corral_core::name::NameError) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "invalid",
        field: Some(
            if e.field == "namespace" {
                "namespace"
            } else {
                "name"
            }
            .into(),
        ),
        detail: e.to_string(),
    }
}

/// Validates path parameters into a CT reference.
pub fn ct_ref(ns: &str, name: &str) -> Result<CtRef, ApiError> {
    Ok(CtRef::new(
        Namespace::new(ns).map_err(invalid)?,
        CtName::new(name).map_err(invalid)?,
    ))
}

async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = bearer(headers)?;
    state.backend.caller(&token).await
}

#[utoipa::path(get, path = "/api/v1/cts", tag = "cts",
    responses((status = 200, body = CtList), (status = 401, body = wire::Problem), (status = 403, body = wire::Problem), (status = 503, body = wire::Problem)))]
/// Lists CTs in every namespace the caller may list.
pub async fn list_all(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<CtList>, ApiError> {
    let c = caller(&s, &headers).await?;
    let items = c
        .service
        .list(None)
        .await?
        .into_iter()
        .map(Ct::from)
        .collect();
    Ok(Json(CtList { items }))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/cts", tag = "cts",
    params(("ns" = String, Path, description = "Namespace (a DNS label)")),
    responses((status = 200, body = CtList), (status = 400, body = wire::Problem), (status = 401, body = wire::Problem), (status = 403, body = wire::Problem), (status = 503, body = wire::Problem)))]
/// Lists CTs in one namespace.
pub async fn list_ns(
    State(s): State<AppState>,
    Path(ns): Path<String>,
    headers: HeaderMap,
) -> Result<Json<CtList>, ApiError> {
    let ns = Namespace::new(ns).map_err(invalid)?;
    let c = caller(&s, &headers).await?;
    let items = c
        .service
        .list(Some(ns))
        .await?
        .into_iter()
        .map(Ct::from)
        .collect();
    Ok(Json(CtList { items }))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/cts", tag = "cts",
    params(("ns" = String, Path, description = "Namespace (a DNS label)")),
    request_body = wire::CreateCt,
    responses((status = 201, body = Ct), (status = 400, body = wire::Problem), (status = 401, body = wire::Problem), (status = 403, body = wire::Problem), (status = 404, body = wire::Problem), (status = 409, body = wire::Problem), (status = 422, body = wire::Problem), (status = 503, body = wire::Problem)))]
/// Creates a CT (same fields, defaults and rules as `corral ct create`).
pub async fn create(
    State(s): State<AppState>,
    Path(ns): Path<String>,
    headers: HeaderMap,
    body: Result<Json<wire::CreateCt>, axum::extract::rejection::JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(body) = body.map_err(body_error)?;
    let req = CreateCtRequest::validate(&body.into_input(&ns))
        .map_err(|e| ApiError::from(corral_core::ServiceError::from(e)))?;
    let c = caller(&s, &headers).await?;
    c.service.create(&req).await?;
    let view = c.service.get(&req.spec.id).await?;
    Ok((StatusCode::CREATED, Json(Ct::from(view))))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/cts/{name}", tag = "cts",
    params(("ns" = String, Path, description = "Namespace (a DNS label)"), ("name" = String, Path, description = "CT name (a DNS label)")),
    responses((status = 200, body = CtWithEvents), (status = 400, body = wire::Problem), (status = 401, body = wire::Problem), (status = 403, body = wire::Problem), (status = 404, body = wire::Problem), (status = 503, body = wire::Problem)))]
/// One CT with its recent events.
pub async fn show(
    State(s): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<CtWithEvents>, ApiError> {
    let id = ct_ref(&ns, &name)?;
    let c = caller(&s, &headers).await?;
    Ok(Json(c.service.describe(&id).await?.into()))
}

#[utoipa::path(delete, path = "/api/v1/namespaces/{ns}/cts/{name}", tag = "cts",
    params(("ns" = String, Path, description = "Namespace (a DNS label)"), ("name" = String, Path, description = "CT name (a DNS label)")),
    responses((status = 202, body = Ct, description = "Deletion started; the CT's volume and data are deleted"), (status = 400, body = wire::Problem), (status = 401, body = wire::Problem), (status = 403, body = wire::Problem), (status = 404, body = wire::Problem), (status = 503, body = wire::Problem)))]
/// Deletes a CT and its volume.
pub async fn delete(
    State(s): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let id = ct_ref(&ns, &name)?;
    let c = caller(&s, &headers).await?;
    c.service.delete(&id).await?;
    accepted(&c, &id).await
}

async fn accepted(c: &Caller, id: &CtRef) -> Result<(StatusCode, Json<Ct>), ApiError> {
    let view = c.service.get(id).await?;
    Ok((StatusCode::ACCEPTED, Json(Ct::from(view))))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/cts/{name}/start", tag = "cts",
    params(("ns" = String, Path, description = "Namespace (a DNS label)"), ("name" = String, Path, description = "CT name (a DNS label)")),
    responses((status = 202, body = Ct), (status = 400, body = wire::Problem), (status = 401, body = wire::Problem), (status = 403, body = wire::Problem), (status = 404, body = wire::Problem), (status = 409, body = wire::Problem), (status = 503, body = wire::Problem)))]
/// Starts a stopped CT.
pub async fn start(
    State(s): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let id = ct_ref(&ns, &name)?;
    let c = caller(&s, &headers).await?;
    c.service.start(&id).await?;
    accepted(&c, &id).await
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/cts/{name}/stop", tag = "cts",
    params(("ns" = String, Path, description = "Namespace (a DNS label)"), ("name" = String, Path, description = "CT name (a DNS label)")),
    responses((status = 202, body = Ct), (status = 400, body = wire::Problem), (status = 401, body = wire::Problem), (status = 403, body = wire::Problem), (status = 404, body = wire::Problem), (status = 409, body = wire::Problem), (status = 503, body = wire::Problem)))]
/// Stops a CT; its volume, record and Service stay.
pub async fn stop(
    State(s): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let id = ct_ref(&ns, &name)?;
    let c = caller(&s, &headers).await?;
    c.service.stop(&id).await?;
    accepted(&c, &id).await
}

/// Query of the tree endpoint.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct TreeQuery {
    /// Only this namespace's guests.
    pub namespace: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/tree", tag = "tree", params(TreeQuery),
    responses((status = 200, body = Tree), (status = 400, body = wire::Problem), (status = 401, body = wire::Problem), (status = 403, body = wire::Problem), (status = 503, body = wire::Problem)))]
/// The datacenter tree: cluster → nodes → CTs (and KubeVirt VMs where installed).
pub async fn tree(
    State(s): State<AppState>,
    Query(q): Query<TreeQuery>,
    headers: HeaderMap,
) -> Result<Json<Tree>, ApiError> {
    let ns = q
        .namespace
        .map(Namespace::new)
        .transpose()
        .map_err(invalid)?;
    let c = caller(&s, &headers).await?;
    let cts = c.service.list(ns.clone()).await?;
    let mut nodes: Vec<TreeNode> = Vec::new();
    let mut cluster = String::from("kubernetes");
    if let Some(k) = &c.kube {
        if let Ok(v) = k.apiserver_version().await {
            cluster = format!("kubernetes {}", v.git_version);
        }
        let api: kube::Api<Node> = kube::Api::all(k.clone());
        if let Ok(list) = api.list(&Default::default()).await {
            nodes = list
                .items
                .into_iter()
                .map(|n| TreeNode {
                    ready: n
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| {
                            c.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                        }),
                    name: n.metadata.name.unwrap_or_default(),
                    guests: Vec::new(),
                })
                .collect();
        }
    }
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let mut guests: Vec<(Option<String>, Guest)> = cts
        .into_iter()
        .map(|ct| {
            let g = Guest {
                kind: "ct".into(),
                namespace: ct.spec.id.namespace.to_string(),
                name: ct.spec.id.name.to_string(),
                status: ct.status.to_string(),
            };
            (ct.node, g)
        })
        .collect();
    if let Some(k) = &c.kube {
        guests.extend(tty::list_vms(k, ns.as_ref().map(Namespace::as_str)).await);
    }
    let mut unscheduled = Vec::new();
    for (node, g) in guests {
        match node
            .as_deref()
            .and_then(|n| nodes.iter_mut().find(|x| x.name == n))
        {
            Some(node) => node.guests.push(g),
            None => unscheduled.push(g),
        }
    }
    Ok(Json(Tree {
        cluster,
        nodes,
        unscheduled,
    }))
}

#[utoipa::path(post, path = "/api/v1/tty-tickets", tag = "console", request_body = TicketRequest,
    responses((status = 201, body = Ticket), (status = 400, body = wire::Problem), (status = 401, body = wire::Problem), (status = 403, body = wire::Problem), (status = 404, body = wire::Problem), (status = 409, body = wire::Problem)))]
/// Issues a single-use console ticket (30 s) for a running CT the caller may exec into, or a KubeVirt VM it can see.
pub async fn ticket(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<TicketRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(body) = body.map_err(body_error)?;
    let id = ct_ref(&body.namespace, &body.name)?;
    let token = bearer(&headers)?;
    let c = s.backend.caller(&token).await?;
    // A VM the caller can see, or a CT it can console now; the session
    // itself is authorised again by the apiserver when the websocket opens.
    let vm = match &c.kube {
        Some(k) => tty::is_vm(k, &body.namespace, &body.name).await?,
        None => false,
    };
    if !vm {
        c.service.exec_target(&id).await?;
    }
    let t = s
        .tickets
        .issue(&token, &body.namespace, &body.name)
        .ok_or_else(|| ApiError::internal("could not issue a ticket"))?;
    Ok((
        StatusCode::CREATED,
        Json(Ticket {
            ticket: t,
            expires_in_seconds: tickets::TICKET_TTL.as_secs(),
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/watch", tag = "tree", params(TreeQuery),
    responses((status = 200, content_type = "text/event-stream", description = "`data: changed` whenever a CT in scope may have changed; a comment every 15 s keeps it open"), (status = 401, body = wire::Problem)))]
/// Server-sent events fed by a watch of the caller's CTs, for live views.
pub async fn watch(
    State(s): State<AppState>,
    Query(q): Query<TreeQuery>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let ns = q
        .namespace
        .map(Namespace::new)
        .transpose()
        .map_err(invalid)?;
    let c = caller(&s, &headers).await?;
    // The caller must be allowed to list what it follows; the feed ticks
    // after the list cache has applied a change, so a re-list on a tick
    // sees it.
    let feed = match c.ports {
        Some(ports) => Some(
            ports
                .follow(ns.as_ref())
                .await
                .map_err(|e| ApiError::from(corral_core::ServiceError::List { source: e }))?,
        ),
        None => {
            c.service.list(ns).await?;
            None
        }
    };
    let stream = futures::stream::unfold(feed, |mut feed| async move {
        match &mut feed {
            Some(f) => {
                if f.next(Duration::from_secs(60)).await.is_err() {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
            None => tokio::time::sleep(Duration::from_secs(3600)).await,
        }
        Some((
            Ok::<_, std::convert::Infallible>(Event::default().data("changed")),
            feed,
        ))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    if s.backend.ready().await {
        (StatusCode::OK, "ok")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the Kubernetes API server is not ready",
        )
    }
}

async fn openapi_json() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi::json(),
    )
}

/// Runs the app on a listener until `shutdown` resolves, letting running requests finish.
pub async fn serve<L>(
    listener: L,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod router_tests;
