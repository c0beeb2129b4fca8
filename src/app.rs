//! Wiring: loads the AWS configuration, builds the targets, and runs the server or `check`.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

use crate::aws::clients::{ClientFactory, load_aws_config};
use crate::aws::discovery::{self, Discovery, Fleet, Members};
use crate::config::{Cli, Output};
use crate::error::Error;
use crate::metrics::ExporterMetrics;
use crate::poller::Poller;
use crate::posture::Control;
use crate::report;
use crate::web::reload::{ConfigWatcher, ReloadMetrics};
use crate::web::server::{self, Web};

/// The accounts to check, as the flags say. The flags are read (and a role ARN file parsed)
/// before anything touches AWS, so that bad input fails fast with one line.
async fn fleet(cli: &Cli, metrics: &ExporterMetrics) -> Result<Fleet, Error> {
    let discovery = cli.accounts.discovery().map_err(Error::Config)?;
    let config = load_aws_config(cli.poll.timeout).await;
    let factory = ClientFactory::new(&config, &metrics.api);
    if matches!(
        discovery,
        Discovery::Organization {
            members: Members::Root,
            ..
        }
    ) {
        root_access_enabled(&factory).await?;
    }
    let fleet = Fleet::new(
        &factory,
        discovery,
        cli.accounts.shard,
        cli.accounts.external_id.clone(),
    );
    Ok(if cli.accounts.root_activity {
        fleet.with_root_activity(cli.accounts.root_activity_interval)
    } else {
        fleet
    })
}

/// Refuses to start in `--organization.assume-root` mode unless the Organization has
/// `RootCredentialsManagement` enabled: without it every `AssumeRoot` would be denied, and an
/// exporter failing every member on every poll says less than one line at start-up.
async fn root_access_enabled(factory: &ClientFactory) -> Result<(), Error> {
    const HOW: &str = "enable it in the management account with `aws organizations enable-aws-service-access --service-principal iam.amazonaws.com` then `aws iam enable-organizations-root-credentials-management`";
    match discovery::organization_features(&factory.iam(None)).await {
        Ok(f) if f.root_credentials_management => {
            info!(
                organization_id = %f.organization_id,
                root_sessions = f.root_sessions,
                "centralized root access is enabled"
            );
            Ok(())
        }
        Ok(f) => Err(Error::Config(format!(
            "--organization.assume-root: RootCredentialsManagement is not enabled for {}; {HOW}",
            f.organization_id
        ))),
        // Trusted access for IAM off, a member account, or a denied call: in each case the
        // same line tells where to run and what to enable.
        Err(err) => Err(Error::Config(format!(
            "--organization.assume-root: cannot tell whether RootCredentialsManagement is enabled ({}: {}); run from the management account (or the IAM delegated administrator) and {HOW}",
            err.code(),
            first_line(&err.to_string()),
        ))),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// Polls once and prints the result; returns the process exit code.
pub async fn check(cli: &Cli, output: Output, controls: &[Control]) -> Result<u8, Error> {
    let metrics = ExporterMetrics::new(crate::VERSION, crate::REVISION);
    let fleet = fleet(cli, &metrics).await?;
    let (mut poller, _) = Poller::new(fleet, cli.poll.concurrency.into(), metrics);
    let snapshot = poller.poll_once().await;
    let out = match output {
        Output::Table => report::table(&snapshot.accounts, controls),
        Output::Json => report::json(&snapshot.accounts, controls),
    };
    print!("{out}");
    Ok(report::Totals::of(&snapshot.accounts, controls).exit_code())
}

/// Loads `--web.config.file`, if given; a bad file stops the exporter before it serves.
pub fn web_config(
    cli: &Cli,
    metrics: &ExporterMetrics,
) -> Result<Option<Arc<ConfigWatcher>>, Error> {
    let Some(path) = &cli.web.config_file else {
        return Ok(None);
    };
    let watcher = ConfigWatcher::load(path, ReloadMetrics::register(metrics.per_scrape()))?;
    Ok(Some(Arc::new(watcher)))
}

/// Binds the listener; a bad or busy address is reported before anything else starts.
pub async fn bind(cli: &Cli) -> Result<TcpListener, Error> {
    let addr = cli.web.listen_address;
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

/// Serves metrics until SIGINT or SIGTERM.
pub async fn serve(cli: &Cli, listener: TcpListener) -> Result<(), Error> {
    let metrics = ExporterMetrics::new(crate::VERSION, crate::REVISION);
    metrics.set_poll_interval(cli.poll.interval);
    let guard = web_config(cli, &metrics)?;
    let fleet = fleet(cli, &metrics).await?;
    let (poller, snapshots) = Poller::new(fleet, cli.poll.concurrency.into(), metrics.clone());
    let tls = guard
        .as_ref()
        .is_some_and(|g| g.for_connection().tls.is_some());
    let web = Web {
        snapshots,
        metrics,
        telemetry_path: cli.web.telemetry_path.clone(),
        poll_interval: cli.poll.interval,
        guard,
    };
    info!(
        version = crate::VERSION,
        revision = crate::REVISION,
        address = %listener.local_addr()?,
        tls,
        poll_interval = %humantime::format_duration(cli.poll.interval),
        "serving"
    );

    let (stop, stopped) = watch::channel(false);
    let until_stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let poll = tokio::spawn(poller.run(cli.poll.interval, until_stopped(stopped.clone())));
    let server = tokio::spawn(server::serve(listener, web, until_stopped(stopped)));

    shutdown_signal().await;
    info!("shutting down");
    let _ = stop.send(true);
    let _ = tokio::join!(poll, server);
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
