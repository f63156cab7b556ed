//! The drawing page end to end, in a real headless Chromium driven over WebDriver:
//! strokes of several digits drawn with the pointer on the canvas, the prediction
//! read from the page.
//!
//! The digits are drawn twice: in a desktop-sized window (1280x800) and in a
//! phone-sized one (390x844), where the pad, the predicted digit and all ten bars
//! must be in view at once, with nothing wider than the screen.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`); `.ci/run` installs them. Without them this test fails,
//! saying how to install them, unless `SCRAWL_SKIP_BROWSER=1` asks to skip it.
//! `SCRAWL_SCREENSHOTS=DIR` also saves `desktop.png` and `phone.png` there, each after
//! the last digit.

use crate::common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scrawl::serve::{ServeOptions, Server};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver, killed when dropped (also when the test fails), after ending the
/// browser session so that no Chromium is left behind.
struct Driver {
    child: Child,
    base: String,
    agent: ureq::Agent,
    session: std::cell::RefCell<Option<String>>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(id) = self.session.take() {
            let _ = self
                .agent
                .delete(format!("{}/session/{id}", self.base))
                .call();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            agent,
            session: Default::default(),
        };
        let start = Instant::now();
        while driver
            .agent
            .get(format!("{}/status", driver.base))
            .call()
            .is_err()
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }

    fn send(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let mut resp = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self
                .agent
                .post(&url)
                .header("content-type", "application/json")
                .send(&serde_json::to_vec(&body).unwrap()[..]),
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let v: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(status, 200, "{method} {path}: {v}");
        v["value"].clone()
    }
}

/// A digit as strokes, each a polyline in a box from -1 to 1 (y down).
fn strokes(digit: u8) -> Vec<Vec<(f64, f64)>> {
    let ellipse = |cx: f64, cy: f64, rx: f64, ry: f64, from: f64, to: f64, n: usize| {
        (0..=n)
            .map(|i| {
                let t = (from + (to - from) * i as f64 / n as f64).to_radians();
                (cx + rx * t.cos(), cy + ry * t.sin())
            })
            .collect::<Vec<_>>()
    };
    match digit {
        0 => vec![ellipse(0.0, 0.0, 0.45, 0.8, -90.0, 275.0, 28)],
        1 => vec![vec![(-0.2, -0.6), (0.05, -0.85), (0.05, 0.85)]],
        2 => vec![{
            let mut s = ellipse(0.0, -0.4, 0.45, 0.42, 190.0, 390.0, 12);
            s.extend([(-0.5, 0.8), (0.55, 0.8)]);
            s
        }],
        3 => vec![{
            let mut s = ellipse(0.0, -0.42, 0.4, 0.4, 200.0, 450.0, 12);
            s.extend(ellipse(0.0, 0.4, 0.45, 0.42, -90.0, 150.0, 12));
            s
        }],
        4 => vec![
            vec![(0.15, -0.85), (-0.5, 0.25), (0.55, 0.25)],
            vec![(0.25, -0.35), (0.25, 0.85)],
        ],
        5 => vec![{
            let mut s = vec![(0.45, -0.8), (-0.35, -0.8), (-0.35, -0.1)];
            s.extend(ellipse(0.0, 0.35, 0.45, 0.45, -120.0, 150.0, 14));
            s
        }],
        6 => vec![{
            let mut s = vec![(0.35, -0.85), (-0.1, -0.5), (-0.4, 0.2)];
            s.extend(ellipse(0.0, 0.4, 0.4, 0.42, 180.0, 540.0, 20));
            s
        }],
        7 => vec![vec![(-0.5, -0.8), (0.5, -0.8), (-0.05, 0.85)]],
        8 => vec![{
            let mut s = ellipse(0.0, -0.45, 0.35, 0.38, 90.0, 450.0, 18);
            s.extend(ellipse(0.0, 0.4, 0.45, 0.45, -90.0, 270.0, 20));
            s
        }],
        9 => vec![{
            let mut s = ellipse(0.0, -0.4, 0.4, 0.4, 0.0, 360.0, 20);
            s.push((0.35, 0.85));
            s
        }],
        _ => panic!("no strokes for {digit}"),
    }
}

#[test]
#[ignore = "full tier: a real Chromium"]
fn draw_digits_in_a_real_browser() {
    if std::env::var_os("SCRAWL_SKIP_BROWSER").is_some_and(|v| v == "1") {
        eprintln!("browser test: SKIPPED, as SCRAWL_SKIP_BROWSER=1 asks");
        return;
    }
    assert!(
        Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
        "{CHROMIUM} or {CHROMEDRIVER} is missing: apt-get install chromium chromium-driver \
         (.ci/run does), or set SCRAWL_SKIP_BROWSER=1 to skip this test"
    );
    // A model good enough for drawings: the MLP trained on all of MNIST for one epoch.
    let mnist = common::mnist();
    let model = common::trained(
        scrawl::presets::preset("mlp-512").unwrap(),
        7,
        &mnist.train,
        60_000,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp.safetensors");
    let accuracy = model.evaluate(&mnist.test, 1000).unwrap().accuracy;
    let info = BTreeMap::from([("test_accuracy".to_string(), json!(accuracy))]);
    model.save_with_info(&path, &info).unwrap();
    let server = Server::start(
        &path,
        &ServeOptions {
            addr: "127.0.0.1:0".into(),
            quiet: true,
            ..ServeOptions::default()
        },
    )
    .unwrap();

    let driver = Driver::start();
    let profile = dir.path().join("chromium-profile");
    let session = driver.send(
        "POST",
        "/session",
        json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": CHROMIUM,
            // No background networking: this machine's network is closed.
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     "--window-size=1280,800",
                     format!("--user-data-dir={}", profile.display())],
        }}}}),
    );
    let sid = session["sessionId"].as_str().unwrap().to_string();
    driver.session.replace(Some(sid.clone()));
    let s = |p: &str| format!("/session/{sid}{p}");
    driver.send(
        "POST",
        &s("/url"),
        json!({ "url": format!("http://{}/", server.addr()) }),
    );
    let find = |css: &str| {
        let v = driver.send(
            "POST",
            &s("/element"),
            json!({"using": "css selector", "value": css}),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {v}"))
            .to_string()
    };
    let pad = find("#pad");
    let clear = find("#clear");
    let script = |js: &str| {
        driver.send(
            "POST",
            &s("/execute/sync"),
            json!({"script": js, "args": []}),
        )
    };
    // The model's name arrives from /api/model.
    let start = Instant::now();
    while !script("return document.getElementById('model').textContent;")
        .as_str()
        .unwrap()
        .contains(&format!("test accuracy {:.2}%", 100.0 * accuracy))
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the page did not load the model"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let shots = std::env::var_os("SCRAWL_SCREENSHOTS").map(std::path::PathBuf::from);
    let mut seen = Vec::new();
    for (window, width, height) in [("desktop", 1280, 800), ("phone", 390, 844)] {
        // Headless Chromium counts some height of browser frame in the window: it is
        // added so that the page itself gets the size.
        let frame = script("return outerHeight - innerHeight;")
            .as_u64()
            .unwrap();
        driver.send(
            "POST",
            &s("/window/rect"),
            json!({"width": width, "height": height + frame}),
        );
        // Everything that matters is in view without scrolling, nothing overflows.
        let layout = script(
            "const v = [innerWidth, innerHeight]; \
             const r = (id) => document.getElementById(id).getBoundingClientRect(); \
             const fits = (id) => r(id).top >= 0 && r(id).bottom <= innerHeight && \
                                  r(id).left >= 0 && r(id).right <= innerWidth; \
             return [v, ['pad', 'clear', 'digit', 'seen', 'bars'].filter((id) => !fits(id)), \
                     document.documentElement.scrollWidth <= innerWidth];",
        );
        let inner = (
            layout[0][0].as_u64().unwrap(),
            layout[0][1].as_u64().unwrap(),
        );
        assert!(
            inner.0.abs_diff(width) <= 20 && inner.1.abs_diff(height) <= 20,
            "{window}: the viewport is {inner:?}, not about {width}x{height}"
        );
        assert_eq!(layout[1], json!([]), "{window}: out of view at {layout}");
        assert_eq!(layout[2], json!(true), "{window}: wider than the screen");
        let size = script(
            "const r = document.getElementById('pad').getBoundingClientRect(); return [r.width, r.height];",
        );
        let half = size[0].as_f64().unwrap() / 2.0 * 0.8;
        for digit in 0u8..10 {
            driver.send("POST", &s(&format!("/element/{clear}/click")), json!({}));
            let before = script("return window.scrawl.answers;").as_u64().unwrap();
            // Pointer moves relative to the canvas centre, as a mouse would draw them.
            let mut actions = Vec::new();
            for stroke in strokes(digit) {
                for (i, &(x, y)) in stroke.iter().enumerate() {
                    actions.push(json!({"type": "pointerMove", "duration": 15,
                        "origin": {ELEMENT: pad}, "x": (x * half).round() as i64, "y": (y * half).round() as i64}));
                    if i == 0 {
                        actions.push(json!({"type": "pointerDown", "button": 0}));
                    }
                }
                actions.push(json!({"type": "pointerUp", "button": 0}));
            }
            driver.send(
                "POST",
                &s("/actions"),
                json!({"actions": [{"type": "pointer", "id": "mouse",
                    "parameters": {"pointerType": "mouse"}, "actions": actions}]}),
            );
            // Wait for the answer to the finished drawing: nothing in flight or queued.
            let start = Instant::now();
            let shown = loop {
                let v = script(
                    "const s = window.scrawl; return (s.busy || s.pending) ? null : \
                     [s.answers, document.getElementById('digit').textContent, document.getElementById('error').textContent];",
                );
                if let Some(a) = v.as_array()
                    && a[0].as_u64().unwrap() > before
                {
                    assert_eq!(a[2], "", "the page shows an error");
                    break a[1].as_str().unwrap().to_string();
                }
                assert!(
                    start.elapsed() < Duration::from_secs(15),
                    "no prediction for {digit}"
                );
                std::thread::sleep(Duration::from_millis(50));
            };
            // The bars show one probability per class, the top one the prediction.
            let bars = script(
                "return [...document.querySelectorAll('.pct')].map(e => parseFloat(e.textContent));",
            );
            let bars: Vec<f64> = serde_json::from_value(bars).unwrap();
            assert_eq!(bars.len(), 10);
            assert!((bars.iter().sum::<f64>() - 100.0).abs() < 1.0, "{bars:?}");
            seen.push((window, digit, shown));
        }
        if let Some(dir) = &shots {
            use base64::Engine;
            // Let the bars finish their transition.
            std::thread::sleep(Duration::from_millis(400));
            let png = driver.send("GET", &s("/screenshot"), json!({}));
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(png.as_str().unwrap())
                .unwrap();
            std::fs::write(dir.join(format!("{window}.png")), bytes).unwrap();
        }
    }
    server.shutdown();
    eprintln!("browser test: drawn and predicted {seen:?}");
    for window in ["desktop", "phone"] {
        let right = seen
            .iter()
            .filter(|(w, d, s)| *w == window && *s == d.to_string())
            .count();
        assert!(
            right >= 8,
            "{window}: {right}/10 drawn digits recognised: {seen:?}"
        );
    }
}
