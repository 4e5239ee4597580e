//! Stage two: validated requests, then the shared [`CtService`].

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use corral_core::service::{CtService, WaitFor};
use corral_core::{CreateCtInput, CreateCtRequest, CtName, CtRef, Namespace};
use corral_k8s::{ClusterTarget, KubeCt};

use crate::args::{
    Cli, ClusterArgs, Command, CreateArgs, CtCommand, DeleteArgs, ExecArgs, Format, WaitArgs,
};
use crate::error::CommandError;
use crate::output;
use crate::term;

/// A connected session: the service, the raw client (for exec) and the namespace.
struct Ctx {
    service: CtService,
    kube: KubeCt,
    namespace: String,
}

async fn connect(c: &ClusterArgs) -> Result<Ctx, CommandError> {
    let (client, default_ns) = corral_k8s::connect(&ClusterTarget {
        kubeconfig: c.kubeconfig.clone(),
        context: c.context.clone(),
    })
    .await?;
    let kube = KubeCt::new(client);
    Ok(Ctx {
        service: CtService::new(Arc::new(kube.clone())),
        kube,
        namespace: c.namespace.clone().unwrap_or(default_ns),
    })
}

/// Validates a CT reference before any IO.
fn ct_ref(namespace: &str, name: &str) -> Result<CtRef, CommandError> {
    let ns = Namespace::new(namespace).map_err(|e| CommandError::usage(e.to_string()))?;
    let n = CtName::new(name).map_err(|e| CommandError::usage(e.to_string()))?;
    Ok(CtRef::new(ns, n))
}

/// Stage-two checks that need no cluster: names, quantities, image.
fn create_request(
    a: &CreateArgs,
    namespace: Option<&str>,
) -> Result<Option<CreateCtRequest>, CommandError> {
    let Some(ns) = namespace else { return Ok(None) };
    let input = CreateCtInput {
        namespace: ns.to_string(),
        name: a.name.clone(),
        image: a.image.clone(),
        cpu: Some(a.cpu.clone()),
        memory: Some(a.mem.clone()),
        disk: Some(a.disk.clone()),
        privileged: a.privileged,
        node: a.node.clone(),
    };
    CreateCtRequest::validate(&input)
        .map(Some)
        .map_err(|e| CommandError::usage(e.to_string()))
}

/// Runs a parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> Result<u8, CommandError> {
    let cmd = match cli.command {
        Command::Ct(cmd) => cmd,
        Command::Serve(a) => return serve(&cli.cluster, a).await,
        Command::Tui(a) => {
            if let Some(ns) = &cli.cluster.namespace {
                Namespace::new(ns.clone()).map_err(|e| CommandError::usage(e.to_string()))?;
            }
            let ctx = connect(&cli.cluster).await?;
            let ns = (!a.all_namespaces).then(|| ctx.namespace.clone());
            // One caller for the whole session: its lists come from watches.
            let kube = corral_k8s::ListCache::new().ports(ctx.kube.client().clone(), [0; 32]);
            return crate::tui::run(kube, ns).await;
        }
    };
    // Everything that can be checked without a cluster is checked first, so
    // bad input never needs a kubeconfig and never touches the cluster.
    match &cmd {
        CtCommand::Create(a) => {
            create_request(
                a,
                Some(cli.cluster.namespace.as_deref().unwrap_or("default")),
            )?;
        }
        CtCommand::Show(a) => drop(ct_ref("default", &a.name)?),
        CtCommand::Start(a) | CtCommand::Stop(a) => drop(ct_ref("default", &a.name)?),
        CtCommand::Delete(a) => drop(ct_ref("default", &a.name)?),
        CtCommand::Console(a) => drop(ct_ref("default", &a.name)?),
        CtCommand::Exec(a) => drop(ct_ref("default", &a.name)?),
        CtCommand::List(_) => {}
    }
    if let Some(ns) = &cli.cluster.namespace {
        Namespace::new(ns.clone()).map_err(|e| CommandError::usage(e.to_string()))?;
    }
    let ctx = connect(&cli.cluster).await?;
    let now = jiff::Timestamp::now();
    let stdout = |s: String| {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(s.as_bytes());
        let _ = o.flush();
    };
    match cmd {
        CtCommand::Create(a) => {
            let Some(req) = create_request(&a, Some(&ctx.namespace))? else {
                return Ok(0);
            };
            for w in &req.warnings {
                eprintln!("warning: {w}");
            }
            let id = req.spec.id.clone();
            ctx.service.create(&req).await?;
            eprintln!(
                "created CT {id} ({}, {})",
                req.spec.mode.as_str(),
                req.spec.image
            );
            if a.wait.wait {
                wait(&ctx, &id, WaitFor::Running, &a.wait).await?;
            }
            if a.output != Format::Table {
                stdout(output::machine(&ctx.service.get(&id).await?, a.output)?);
            }
        }
        CtCommand::List(a) => {
            let ns = if a.all_namespaces {
                None
            } else {
                Some(
                    Namespace::new(ctx.namespace.clone())
                        .map_err(|e| CommandError::usage(e.to_string()))?,
                )
            };
            let cts = ctx.service.list(ns).await?;
            match a.output {
                Format::Table if cts.is_empty() => eprintln!(
                    "No CTs found{}.",
                    if a.all_namespaces {
                        String::new()
                    } else {
                        format!(" in namespace {}", ctx.namespace)
                    }
                ),
                Format::Table => stdout(output::list_table(&cts, a.all_namespaces, now)),
                f => stdout(output::machine(&serde_json::json!({ "items": cts }), f)?),
            }
        }
        CtCommand::Show(a) => {
            let id = ct_ref(&ctx.namespace, &a.name)?;
            let d = ctx.service.describe(&id).await?;
            match a.output {
                Format::Table => stdout(output::details_text(&d, now)),
                f => stdout(output::machine(&d, f)?),
            }
        }
        CtCommand::Start(a) => {
            let id = ct_ref(&ctx.namespace, &a.name)?;
            ctx.service.start(&id).await?;
            eprintln!("starting CT {id}");
            if a.wait.wait {
                wait(&ctx, &id, WaitFor::Running, &a.wait).await?;
            }
        }
        CtCommand::Stop(a) => {
            let id = ct_ref(&ctx.namespace, &a.name)?;
            ctx.service.stop(&id).await?;
            eprintln!("stopping CT {id}; its volume and record are kept");
            if a.wait.wait {
                wait(&ctx, &id, WaitFor::Stopped, &a.wait).await?;
            }
        }
        CtCommand::Delete(a) => delete(&ctx, a).await?,
        CtCommand::Console(a) => {
            let id = ct_ref(&ctx.namespace, &a.name)?;
            let target = ctx.service.exec_target(&id).await?;
            let argv = corral_core::entrypoint::console_command(target.mode);
            return term::interactive(ctx.kube.client(), &target, argv).await;
        }
        CtCommand::Exec(ExecArgs {
            name,
            stdin,
            tty,
            command,
        }) => {
            let id = ct_ref(&ctx.namespace, &name)?;
            let target = ctx.service.exec_target(&id).await?;
            let argv = corral_core::entrypoint::exec_command(target.mode, &command);
            if tty {
                return term::interactive(ctx.kube.client(), &target, argv).await;
            }
            return term::piped(ctx.kube.client(), &target, argv, stdin).await;
        }
    }
    Ok(0)
}

/// `corral serve`: the API acts as each caller with the caller's token; the
/// kubeconfig (or in-cluster config) only supplies the cluster's address and CA.
async fn serve(c: &ClusterArgs, a: crate::args::ServeArgs) -> Result<u8, CommandError> {
    // Stage two, before any IO: TLS files and the plain-HTTP rule.
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(cert), Some(key)) => Some(
            corral_api::tls::server_config(cert, key)
                .map_err(|e| CommandError::usage(crate::error::chain(&e)))?,
        ),
        _ => None,
    };
    if tls.is_none() && !a.listen.ip().is_loopback() && !a.allow_plain_http {
        return Err(CommandError::usage(format!(
            "--listen {}: not a loopback address, and bearer tokens would cross the network unencrypted; give --tls-cert and --tls-key, or --allow-plain-http behind a TLS-terminating proxy",
            a.listen
        )));
    }
    let backend = corral_api::KubeBackend::new(&ClusterTarget {
        kubeconfig: c.kubeconfig.clone(),
        context: c.context.clone(),
    })
    .await
    .map_err(|e| CommandError {
        kind: crate::error::Kind::Unreachable,
        message: crate::error::chain(&e),
    })?;
    let mut state = corral_api::AppState::new(Arc::new(backend));
    state.allowed_origins = Arc::new(a.allow_origin);
    if let Some(dir) = &a.ui_dir
        && !dir.join("index.html").exists()
    {
        return Err(CommandError::usage(format!(
            "--ui-dir {}: no index.html there; build the UI with `cargo xtask ui`",
            dir.display()
        )));
    }
    state.ui_dir = a.ui_dir;
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .map_err(|e| CommandError {
            kind: crate::error::Kind::Usage,
            message: format!("cannot listen on {}: {e}", a.listen),
        })?;
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!(
        "corral API listening on {scheme}://{addr} (Ctrl-C stops it after running requests finish)"
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let served = match tls {
        Some(config) => {
            let tls_listener =
                corral_api::tls::TlsListener::new(listener, config).map_err(|e| CommandError {
                    kind: crate::error::Kind::Internal,
                    message: format!("listening with TLS: {e}"),
                })?;
            corral_api::serve(tls_listener, state, shutdown).await
        }
        None => corral_api::serve(listener, state, shutdown).await,
    };
    served.map_err(|e| CommandError {
        kind: crate::error::Kind::Internal,
        message: format!("serving: {e}"),
    })?;
    Ok(0)
}

async fn delete(ctx: &Ctx, a: DeleteArgs) -> Result<(), CommandError> {
    let id = ct_ref(&ctx.namespace, &a.name)?;
    // Read first: a missing CT is "not found" before any question is asked.
    let view = ctx.service.get(&id).await?;
    let warning = format!(
        "Deleting CT {id} deletes its volume persistentvolumeclaim/{} ({}) and every file on it. This cannot be undone.",
        view.volume.name, view.spec.disk
    );
    if !a.yes {
        if !std::io::stdin().is_terminal() {
            return Err(CommandError::usage(format!(
                "{warning} Refusing without --yes, since stdin is not a terminal to confirm on."
            )));
        }
        eprint!("{warning}\nType the CT's name ({}) to confirm: ", id.name);
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(|e| CommandError::usage(format!("reading the confirmation: {e}")))?;
        if answer.trim() != id.name.as_str() {
            return Err(CommandError::usage(format!(
                "not confirmed; CT {id} was not deleted"
            )));
        }
    } else {
        eprintln!("{warning}");
    }
    ctx.service.delete(&id).await?;
    eprintln!("deleting CT {id}");
    if a.wait.wait {
        wait(ctx, &id, WaitFor::Gone, &a.wait).await?;
    }
    Ok(())
}

async fn wait(ctx: &Ctx, id: &CtRef, want: WaitFor, w: &WaitArgs) -> Result<(), CommandError> {
    let mut last: Option<(corral_core::lifecycle::State, Option<String>)> = None;
    let mut progress =
        |state: corral_core::lifecycle::State, reason: Option<&str>, elapsed: Duration| {
            let now = (state, reason.map(str::to_string));
            if last.as_ref() != Some(&now) {
                let why = reason.map(|r| format!(" — {r}")).unwrap_or_default();
                eprintln!(
                    "  {:>5.1}s  {}: {state}{why}",
                    elapsed.as_secs_f64(),
                    id.name
                );
                last = Some(now);
            }
        };
    let started = std::time::Instant::now();
    ctx.service
        .wait(id, want, Duration::from_secs(w.timeout), &mut progress)
        .await?;
    let done = match want {
        WaitFor::Running => "is running",
        WaitFor::Stopped => "is stopped",
        WaitFor::Gone => "is deleted",
    };
    eprintln!("CT {id} {done} ({:.1}s)", started.elapsed().as_secs_f64());
    Ok(())
}
