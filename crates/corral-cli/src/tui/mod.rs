//! `corral tui`: CTs (and KubeVirt VMs, read-only) in one live list, with
//! Start, Stop, Console and Delete — the same `CtService` as the CLI.
//!
//! The list is refreshed by a watch of the CTs' pods and claims, not a
//! timer. Errors (forbidden, unreachable) go to the status line; the
//! terminal is restored on every exit path, panics included (ratatui's
//! `init` installs the hook).

pub mod app;
pub mod ui;

use std::sync::Arc;
use std::time::Duration;

use corral_core::service::CtService;
use corral_core::{CtName, CtRef, Namespace};
use corral_k8s::KubeCt;
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::error::{CommandError, Kind as ErrKind};
use app::{App, Command, Kind, Row};

fn ct_rows(views: Vec<corral_core::service::CtView>) -> Vec<Row> {
    views
        .into_iter()
        .map(|v| Row {
            kind: Kind::Ct,
            namespace: v.spec.id.namespace.to_string(),
            name: v.spec.id.name.to_string(),
            status: v.status.to_string(),
            mode: v.spec.mode.as_str().to_string(),
            node: v.node.unwrap_or_else(|| "-".into()),
            cpu: v.spec.cpu.to_string(),
            mem: v.spec.memory.to_string(),
            disk: v.spec.disk.to_string(),
        })
        .collect()
}

/// KubeVirt VMIs, where the CRD exists and the caller may list them.
async fn vm_rows(client: &kube::Client, ns: Option<&str>) -> Vec<Row> {
    corral_k8s::vms::list(client, ns)
        .await
        .into_iter()
        .map(|v| Row {
            kind: Kind::Vm,
            namespace: v.namespace,
            name: v.name,
            status: v.phase,
            mode: "-".into(),
            node: v.node.unwrap_or_else(|| "-".into()),
            cpu: "-".into(),
            mem: "-".into(),
            disk: "-".into(),
        })
        .collect()
}

/// Lists, then waits for a change, forever; sends each list or error.
/// Lists come from the watch-fed cache (corral_k8s::cache), so a change
/// costs a read of memory, not a list of every CT.
fn refresher(
    kube: KubeCt,
    ns: Option<String>,
    tx: mpsc::Sender<Result<Vec<Row>, String>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let service = CtService::new(Arc::new(kube.clone()));
        let nsv = ns.as_ref().and_then(|n| Namespace::new(n.clone()).ok());
        let mut feed = None;
        loop {
            let msg = match service.list(nsv.clone()).await {
                Ok(v) => {
                    let mut rows = ct_rows(v);
                    rows.extend(vm_rows(kube.client(), ns.as_deref()).await);
                    Ok(rows)
                }
                Err(e) => Err(crate::error::chain(&e)),
            };
            let failed = msg.is_err();
            if tx.send(msg).await.is_err() {
                return;
            }
            if feed.is_none() && !failed {
                feed = kube.follow(nsv.as_ref()).await.ok();
            }
            let waited = match (&mut feed, failed) {
                (Some(f), false) => f.next(Duration::from_secs(60)).await.is_ok(),
                _ => false,
            };
            if !waited {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    })
}

fn id(ns: &str, name: &str) -> Option<CtRef> {
    Some(CtRef::new(
        Namespace::new(ns).ok()?,
        CtName::new(name).ok()?,
    ))
}

/// Runs the TUI until the user quits.
pub async fn run(kube: KubeCt, namespace: Option<String>) -> Result<u8, CommandError> {
    let service = CtService::new(Arc::new(kube.clone()));
    let io_err = |e: std::io::Error| CommandError {
        kind: ErrKind::Internal,
        message: format!("drawing the terminal: {e}"),
    };
    let mut app = App::new(namespace.clone());
    let (tx, mut rx) = mpsc::channel(4);
    let mut task = refresher(kube.clone(), namespace, tx.clone());
    let mut terminal = ratatui::init();
    let mut events = EventStream::new();
    let result = loop {
        if let Err(e) = terminal.draw(|f| ui::draw(f, &app)) {
            break Err(io_err(e));
        }
        let cmd = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind == KeyEventKind::Press => app.handle(k),
                Some(Ok(_)) => None,
                Some(Err(e)) => break Err(io_err(e)),
                None => Some(Command::Quit),
            },
            msg = rx.recv() => {
                match msg {
                    Some(Ok(rows)) => {
                        app.set_rows(rows);
                        if app.status.as_ref().is_some_and(|(err, _)| *err) { app.status = None; }
                    }
                    Some(Err(e)) => app.say(true, format!("{e} (retrying)")),
                    None => {}
                }
                None
            }
        };
        let Some(cmd) = cmd else { continue };
        match cmd {
            Command::Quit => break Ok(0),
            Command::SetNamespace(ns) => {
                task.abort();
                task = refresher(kube.clone(), ns, tx.clone());
            }
            Command::Start(ns, name)
            | Command::Stop(ns, name)
            | Command::Delete(ns, name)
            | Command::Console(ns, name)
                if id(&ns, &name).is_none() =>
            {
                app.say(true, format!("invalid CT {ns}/{name}"));
            }
            Command::Start(ns, name) => {
                let r = service
                    .start(&id(&ns, &name).unwrap_or_else(|| unreachable!()))
                    .await;
                report(&mut app, r, format!("starting {ns}/{name}"));
            }
            Command::Stop(ns, name) => {
                let r = service
                    .stop(&id(&ns, &name).unwrap_or_else(|| unreachable!()))
                    .await;
                report(&mut app, r, format!("stopping {ns}/{name}"));
            }
            Command::Delete(ns, name) => {
                let r = service
                    .delete(&id(&ns, &name).unwrap_or_else(|| unreachable!()))
                    .await;
                report(&mut app, r, format!("deleting {ns}/{name} and its volume"));
            }
            Command::Console(ns, name) => {
                let ct = id(&ns, &name).unwrap_or_else(|| unreachable!());
                match service.exec_target(&ct).await {
                    Err(e) => app.say(true, crate::error::chain(&e)),
                    Ok(target) => {
                        // Hand the terminal to the same console the CLI uses.
                        ratatui::restore();
                        let argv = corral_core::entrypoint::console_command(target.mode);
                        let r = crate::term::interactive(kube.client(), &target, argv).await;
                        terminal = ratatui::init();
                        let _ = terminal.clear();
                        match r {
                            Ok(code) => {
                                app.say(false, format!("console of {ns}/{name} ended ({code})"))
                            }
                            Err(e) => app.say(true, e.message),
                        }
                    }
                }
            }
        }
    };
    task.abort();
    ratatui::restore();
    result
}

fn report(app: &mut App, r: Result<(), corral_core::ServiceError>, ok: String) {
    match r {
        Ok(()) => app.say(false, ok),
        Err(e) => app.say(true, crate::error::chain(&e)),
    }
}
