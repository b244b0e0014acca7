//! The real server and a headless Chromium driven over WebDriver (chromedriver on 127.0.0.1). Without
//! chromedriver the tests say SKIPPED and pass, unless `TASKYARD_REQUIRE_BROWSER=1`.
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use taskyard::config::Settings;
use taskyard::startup::Application;
use tempfile::TempDir;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long a page may take to show what a step waits for.
const WAIT: Duration = Duration::from_secs(20);

pub struct Server {
    pub base: String,
    pub key: Option<String>,
    _dir: TempDir,
    task: tokio::task::AbortHandle,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The application on 127.0.0.1:0 with its own SQLite file, `sh` allowed.
pub async fn server(configure: impl FnOnce(&mut Settings)) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        database_url: format!("sqlite://{}?mode=rwc", dir.path().join("db.sqlite").display()),
        min_free_bytes: 0,
        supervisor_program: Some(env!("CARGO_BIN_EXE_taskyard").into()),
        allow: vec!["sh".into()],
        ..Settings::default()
    };
    configure(&mut settings);
    let key = settings.api_keys.first().cloned();
    let app = Application::build(settings).await.expect("build the application");
    let base = format!("http://127.0.0.1:{}", app.port());
    let task = tokio::spawn(app.run_until_stopped()).abort_handle();
    Server { base, key, _dir: dir, task }
}

impl Server {
    /// A JSON call to the API, as any client makes it; panics unless the answer is 2xx.
    pub async fn api(&self, method: reqwest::Method, path: &str, body: serde_json::Value) -> serde_json::Value {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut req = reqwest::Client::new().request(method, format!("{}{path}", self.base)).json(&body);
        if let Some(k) = &self.key {
            req = req.header("X-API-Key", k);
        }
        let res = req.send().await.expect("send");
        let status = res.status();
        let text = res.text().await.expect("body");
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).expect("JSON")
    }
}

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A fresh headless Chromium, or None (SKIPPED) when this machine has no chromedriver and none is required.
pub async fn browser(test: &str) -> Option<Browser> {
    if !PathBuf::from(CHROMEDRIVER).exists() {
        assert!(
            std::env::var("TASKYARD_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "TASKYARD_REQUIRE_BROWSER=1 but {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
        );
        eprintln!("SKIPPED {test}: {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)");
        return None;
    }
    // A port free now; chromedriver says when it listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let mut driver = Command::new(CHROMEDRIVER)
        .args([format!("--port={port}"), "--log-level=SEVERE".into()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let mut out = BufReader::new(driver.stdout.take().expect("stdout"));
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).expect("read chromedriver") > 0, "chromedriver exited before it listened");
        if line.contains("started successfully") {
            break;
        }
    }
    // Keep draining its output so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in out.lines() {});
    let profile = tempfile::tempdir().expect("profile dir");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": CHROMIUM, "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,900",
            format!("--user-data-dir={}", profile.path().display()),
        ]}),
    );
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("open a WebDriver session");
    Some(Browser { client, driver, _profile: profile })
}

pub type Step = Result<(), fantoccini::error::CmdError>;

impl Browser {
    pub async fn wait_for(&self, css: &str) -> Result<fantoccini::elements::Element, fantoccini::error::CmdError> {
        self.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await
    }

    pub async fn click(&self, css: &str) -> Step {
        self.wait_for(css).await?.click().await
    }

    pub async fn type_into(&self, css: &str, text: &str) -> Step {
        let field = self.wait_for(css).await?;
        field.clear().await?;
        field.send_keys(text).await
    }

    /// Saves the page as `docs/guide/src/img/NAME.png` when `TASKYARD_SCREENSHOTS=1`.
    pub async fn picture(&self, name: &str) -> Step {
        if std::env::var("TASKYARD_SCREENSHOTS").as_deref() == Ok("1") {
            let png = self.client.screenshot().await?;
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("docs/guide/src/img/{name}.png"));
            std::fs::create_dir_all(path.parent().expect("parent")).expect("img dir");
            std::fs::write(path, png).expect("write the picture");
        }
        Ok(())
    }

    /// Ends the session; a failed step leaves a screenshot under target/ and fails the test.
    pub async fn finish(self, test: &str, outcome: Step) {
        if let Err(e) = &outcome {
            let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("dashboard-{test}.png"));
            if let Ok(png) = self.client.screenshot().await {
                let _ = std::fs::write(&path, png);
            }
            let _ = self.client.clone().close().await;
            panic!("{test}: {e} (screenshot: {})", path.display());
        }
        let _ = self.client.clone().close().await;
    }
}
