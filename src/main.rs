//! `switchyard`: load config, build services, run forever.

use clap::{Parser, Subcommand};
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::Server;
use pingora_core::services::background::background_service;
use std::sync::Arc;
use std::time::Duration;
use switchyard::catalog::cli::ModelsCommand;
use switchyard::config::{real_env, CatalogConfig, Config};
use switchyard::{catalog, metrics, proxy, routing};

// jemalloc, built with its background purging thread on (Cargo feature
// `background_threads`): after a burst of streams, freed memory goes back to the OS
// within seconds instead of waiting for the next allocations.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser, Debug)]
#[command(
    name = "switchyard",
    version,
    about = "LLM gateway: OpenAI and Anthropic APIs, any provider"
)]
struct Cli {
    /// Config file (YAML). Without it: the embedded default (providers from
    /// OPENAI_API_KEY / ANTHROPIC_API_KEY, model name picks the provider).
    #[arg(short = 'c', long = "conf", global = true)]
    conf: Option<String>,
    /// Run in the background (Pingora daemon mode).
    #[arg(short, long, global = true)]
    daemon: bool,
    /// Take over the listening sockets of a running instance (zero-downtime upgrade).
    #[arg(short, long, global = true)]
    upgrade: bool,
    /// Test the configuration and exit.
    #[arg(short, long, global = true)]
    test: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Validate a config file and print every problem with its path.
    Check,
    /// Measure targets (aliases or provider/model) through the gateway's own code
    /// path: TTFT, latency, tokens/s, cost, errors. No running gateway needed.
    Probe(switchyard::probe::ProbeArgs),
    /// Gateway keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The model catalog: prices, context windows, capabilities (offline unless
    /// `refresh` / `--refresh`). With -c FILE its `catalog:` section applies.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Read the logs: a conversation by request id, the access log filtered, a summary.
    Logs {
        #[command(subcommand)]
        command: switchyard::logs::cli::LogsCommand,
    },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Print a fresh random key and its key_sha256, for the `keys:` list.
    New {
        /// The key's name in the config (logs and metrics show it).
        #[arg(long, default_value = "my-key")]
        name: String,
    },
}

/// `switchyard keys new`: the key once (for the client), the digest for the config.
fn keys_new(name: &str) {
    match switchyard::config::keys::new_key() {
        Ok((key, digest)) => {
            println!("key:        {key}");
            println!("key_sha256: {digest}");
            println!();
            println!("Give the key to the client; put the digest in the config:");
            println!("keys:");
            println!("  - {{ name: {name}, key_sha256: \"{digest}\" }}");
        }
        Err(e) => {
            eprintln!("switchyard keys new: no randomness from the OS: {e}");
            std::process::exit(1);
        }
    }
}

fn load(conf: Option<&str>) -> Config {
    let loaded = match conf {
        Some(path) => Config::from_file(path),
        None => Config::embedded_default(&real_env),
    };
    match loaded {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("switchyard: invalid configuration:\n{errors}");
            std::process::exit(2);
        }
    }
}

/// The router, with prices from the config and else the catalog; an alias with the
/// `cost` strategy and an unpriced target cannot route, so that is exit 2.
fn checked_router(config: &Arc<Config>, catalog: Arc<catalog::Catalog>) -> routing::Router {
    let router = routing::Router::new(config.clone(), catalog);
    let problems = router.cost_problems();
    if !problems.is_empty() {
        eprintln!(
            "switchyard: invalid configuration:\n{}",
            problems.join("\n")
        );
        std::process::exit(2);
    }
    router
}

fn main() {
    let cli = Cli::parse();
    if let Some(Command::Keys {
        command: KeysCommand::New { name },
    }) = &cli.command
    {
        keys_new(name);
        return;
    }
    if let Some(Command::Models { command }) = &cli.command {
        switchyard::logs::init_cli();
        let settings = match cli.conf.as_deref() {
            Some(path) => CatalogConfig::from_file(path, &real_env),
            None => Ok(CatalogConfig::defaults(&real_env)),
        };
        let code = match settings {
            Ok(s) => catalog::cli::run(command, &s),
            Err(errors) => {
                eprintln!("switchyard: invalid configuration:\n{errors}");
                2
            }
        };
        std::process::exit(code);
    }
    if let Some(Command::Probe(args)) = &cli.command {
        // The in-process gateway's access lines stay off: only problems show.
        switchyard::logs::init_cli();
        let config = load(cli.conf.as_deref());
        let model_catalog = catalog::load(&config.catalog);
        model_catalog.log_warnings();
        std::process::exit(switchyard::probe::run(
            config,
            model_catalog.catalog.clone(),
            args,
        ));
    }
    if let Some(Command::Logs { command }) = &cli.command {
        switchyard::logs::init_cli();
        std::process::exit(switchyard::logs::cli::run(command, cli.conf.as_deref()));
    }
    if let Some(Command::Check) = cli.command {
        switchyard::logs::init_cli();
        let Some(path) = cli.conf.as_deref() else {
            eprintln!("switchyard check: give the file to check with -c FILE");
            std::process::exit(2);
        };
        let c = Arc::new(load(Some(path)));
        let model_catalog = catalog::load(&c.catalog);
        let router = checked_router(&c, model_catalog.catalog.clone());
        for w in model_catalog
            .warnings
            .iter()
            .chain(&catalog::unknown_models(&c, &model_catalog.catalog))
        {
            println!("warning: {w}");
        }
        for t in router.unpriced() {
            println!("warning: {t} has no price (no `price:` and not in the model catalog): its requests have no cost_usd and count nothing against spend budgets");
        }
        println!(
            "{path}: ok ({} providers, {} models, {} gateway keys)",
            c.providers.len(),
            c.aliases.len(),
            c.keys.len()
        );
        return;
    }
    let config = Arc::new(load(cli.conf.as_deref()));
    // Log files checked and opened, env_logger and the writer threads started (in daemon
    // mode, the threads start after Pingora's fork).
    if let Err(e) = switchyard::logs::init(&config, cli.daemon) {
        eprintln!("switchyard: {e}");
        std::process::exit(2);
    }
    log::info!(
        "switchyard {} using {}",
        env!("CARGO_PKG_VERSION"),
        config.source
    );
    proxy::announce(&config);
    // Read now (no network) so its warnings come at start-up; the cost and budget
    // stages take it from here.
    let model_catalog = catalog::load(&config.catalog);
    model_catalog.log_warnings();
    log::info!("model catalog: {}", model_catalog.describe());
    metrics::init();

    let opt = Opt {
        upgrade: cli.upgrade,
        daemon: cli.daemon,
        nocapture: false,
        test: cli.test,
        conf: None,
    };
    let mut conf = ServerConf::default();
    let s = &config.server;
    // Pingora's default is one worker thread; a gateway should use the machine.
    conf.threads = s
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(conf.threads, |n| n.get()));
    conf.daemon = cli.daemon;
    if let Some(v) = &s.pid_file {
        conf.pid_file.clone_from(v);
    }
    if let Some(v) = &s.upgrade_sock {
        conf.upgrade_sock.clone_from(v);
    }
    conf.error_log.clone_from(&s.error_log);
    conf.grace_period_seconds = s.grace_period_seconds.or(conf.grace_period_seconds);
    // Pingora's own default when unset (used for SIGQUIT upgrades too).
    let grace_period = conf
        .grace_period_seconds
        .unwrap_or(switchyard::config::DEFAULT_GRACE_PERIOD_SECONDS);
    conf.graceful_shutdown_timeout_seconds = s
        .graceful_shutdown_timeout_seconds
        .or(conf.graceful_shutdown_timeout_seconds);
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let router = Arc::new(checked_router(&config, model_catalog.catalog.clone()));
    let unpriced = router.unpriced();
    if !unpriced.is_empty() {
        log::warn!(
            "no price for {} (no `price:` and not in the model catalog): their requests have no cost_usd and count nothing against spend budgets",
            unpriced.join(", ")
        );
    }
    if let Some(r) = catalog::Refresher::new(&config.catalog, &model_catalog, router.clone()) {
        server.add_service(background_service("model catalog refresh", r));
    }
    switchyard::app::add_services(
        &mut server,
        router,
        &config.listen,
        config.admin_listen.as_deref(),
    );
    log::info!("listening on http://{}", config.listen);
    let drain = switchyard::shutdown::Drain {
        grace: Duration::from_secs(grace_period),
        delay: Duration::from_secs(s.shutdown_delay_seconds),
    };
    let shutdown = if cli.daemon {
        switchyard::shutdown::DrainThenExit::lazy(drain)
    } else {
        match switchyard::shutdown::DrainThenExit::install(drain) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("switchyard: cannot install signal handlers: {e}");
                std::process::exit(1);
            }
        }
    };
    server.run(pingora_core::server::RunArgs {
        shutdown_signal: Box::new(shutdown),
    });
    // Lines and body records logged during shutdown are still buffered.
    switchyard::logs::flush();
    std::process::exit(0)
}
