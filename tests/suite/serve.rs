//! `scrawl serve` against a real server on a loopback port: the page, the model
//! description, predictions by PNG and by pixels (equal to the library's), every bad
//! request answered with a 4xx JSON error, concurrent clients, and a clean shutdown.

use crate::common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use image::{GrayImage, Luma};
use scrawl::model::Sequential;
use scrawl::serve::{ServeOptions, Server};
use serde_json::{Value, json};

/// The book's pretrained network, saved as a scrawl model file with its accuracy.
fn model_file(dir: &std::path::Path) -> (PathBuf, Sequential) {
    let pkl = common::mnist_dir()
        .parent()
        .unwrap()
        .join("dlfs/sample_weight.pkl");
    let model = scrawl::interop::dlfs::import_dlfs(&pkl).unwrap();
    let path = dir.join("dlfs.safetensors");
    let mut info = BTreeMap::new();
    info.insert("test_accuracy".to_string(), json!(0.9352));
    model.save_with_info(&path, &info).unwrap();
    let loaded = Sequential::load(&path).unwrap();
    (path, loaded)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// (status, JSON body) of a request.
fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    ctype: Option<&str>,
    body: &[u8],
) -> (u16, Value) {
    let mut resp = match method {
        "GET" => agent.get(url).call(),
        "DELETE" => agent.delete(url).call(),
        _ => {
            let mut req = agent.post(url);
            if let Some(c) = ctype {
                req = req.header("content-type", c);
            }
            req.send(body)
        }
    }
    .unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    let v = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {url}: not JSON ({e}): {text}"));
    (status, v)
}

fn png(img: &GrayImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

#[test]
fn api_answers_good_and_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (path, reference) = model_file(dir.path());
    let server = Server::start(
        &path,
        &ServeOptions {
            addr: "127.0.0.1:0".into(),
            quiet: true,
            ..ServeOptions::default()
        },
    )
    .unwrap();
    let base = format!("http://{}", server.addr());
    let a = agent();

    // The page and the small routes.
    let mut page = a.get(&base).call().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let ctype = page.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("text/html"), "{ctype}");
    let html = page.body_mut().read_to_string().unwrap();
    assert!(html.contains("<canvas id=\"pad\"") && html.contains("/api/predict"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page must work offline"
    );
    assert_eq!(
        call(&a, "GET", &format!("{base}/healthz"), None, b""),
        (200, json!({"status": "ok"}))
    );
    let (status, m) = call(&a, "GET", &format!("{base}/api/model"), None, b"");
    assert_eq!(status, 200);
    assert_eq!(m["params"], json!(reference.param_count()));
    assert_eq!(
        m["layers"].as_array().unwrap().len(),
        reference.layers().len()
    );
    assert_eq!(m["layers"][0]["class_name"], "Dense");
    assert_eq!(m["test_accuracy"], json!(0.9352));

    // Pixels: the same probabilities as the library, to float precision.
    let test = common::mnist().test;
    let url = format!("{base}/api/predict");
    for i in 0..20 {
        let pixels = test.image(i);
        let body = serde_json::to_vec(&json!({ "pixels": pixels })).unwrap();
        let (status, v) = call(&a, "POST", &url, Some("application/json"), &body);
        assert_eq!(status, 200, "{v}");
        let x: Vec<f32> = pixels.iter().map(|&p| (p as f64 / 255.0) as f32).collect();
        let want = reference.predict_values(&x).unwrap();
        let got: Vec<f32> = serde_json::from_value(v["probabilities"].clone()).unwrap();
        assert_eq!(got, want, "image {i}");
        assert_eq!(v["digit"], json!(scrawl::kernels::argmax(&want)));
        assert_eq!(v["input"], json!(pixels));
    }

    // A drawing as PNG: black on white, 4x larger, off-centre; recognised as its label.
    let mut right = 0;
    for i in 0..10 {
        let digit = test.image(i);
        let small = GrayImage::from_fn(28, 28, |x, y| Luma([255 - digit[(y * 28 + x) as usize]]));
        let big = image::imageops::resize(&small, 112, 112, image::imageops::FilterType::Triangle);
        let mut page = GrayImage::from_pixel(200, 160, Luma([255]));
        image::imageops::overlay(&mut page, &big, 70, 30);
        let (status, v) = call(&a, "POST", &url, Some("image/png"), &png(&page));
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["blank"], json!(false));
        assert_eq!(v["input"].as_array().unwrap().len(), 784);
        right += usize::from(v["digit"] == json!(test.labels[i]));
    }
    assert!(right >= 9, "{right}/10 pasted test digits recognised");

    // The same drawing as application/octet-stream and as a multipart form (what
    // `curl -F file=@digit.png` sends): the same answer as image/png.
    let digit = test.image(0);
    let drawing = png(&GrayImage::from_fn(28, 28, |x, y| {
        Luma([255 - digit[(y * 28 + x) as usize]])
    }));
    let (_, as_png) = call(&a, "POST", &url, Some("image/png"), &drawing);
    let (status, v) = call(&a, "POST", &url, Some("application/octet-stream"), &drawing);
    assert_eq!((status, &v), (200, &as_png));
    for part_type in ["image/png", "application/octet-stream"] {
        let mut form = format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"digit.png\"\r\nContent-Type: {part_type}\r\n\r\n"
        )
        .into_bytes();
        form.extend_from_slice(&drawing);
        form.extend_from_slice(b"\r\n--XyZ--\r\n");
        let (status, v) = call(
            &a,
            "POST",
            &url,
            Some("multipart/form-data; boundary=XyZ"),
            &form,
        );
        assert_eq!((status, &v), (200, &as_png), "{part_type}");
    }

    // Blank input: an answer, not a guess.
    let white = png(&GrayImage::from_pixel(64, 64, Luma([255])));
    let (status, v) = call(&a, "POST", &url, Some("image/png"), &white);
    assert_eq!(
        (status, v["blank"].clone(), v["digit"].clone()),
        (200, json!(true), Value::Null)
    );
    let zeros = serde_json::to_vec(&json!({ "pixels": vec![0; 784] })).unwrap();
    assert_eq!(
        call(&a, "POST", &url, Some("application/json"), &zeros).1["blank"],
        json!(true)
    );

    // Every bad request: its status and a message that says what is wrong.
    let mut out_of_range = vec![json!(0); 784];
    out_of_range[5] = json!(300);
    let mut not_number = vec![json!(0); 784];
    not_number[783] = json!("x");
    // (method, content type, body, status, what the message says)
    type Bad<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, &'a str);
    let bad: Vec<Bad> = vec![
        (
            "POST",
            Some("application/json"),
            b"{\"pixels\": [1, 2".to_vec(),
            400,
            "not valid JSON",
        ),
        (
            "POST",
            Some("application/json"),
            b"[1,2,3]".to_vec(),
            400,
            "\"pixels\"",
        ),
        (
            "POST",
            Some("application/json"),
            b"{\"pixels\": 7}".to_vec(),
            400,
            "array",
        ),
        (
            "POST",
            Some("application/json"),
            b"{\"pixels\": [1, 2]}".to_vec(),
            422,
            "has 2 values",
        ),
        (
            "POST",
            Some("application/json"),
            serde_json::to_vec(&json!({ "pixels": out_of_range })).unwrap(),
            422,
            "pixels[5] is 300",
        ),
        (
            "POST",
            Some("application/json"),
            serde_json::to_vec(&json!({ "pixels": not_number })).unwrap(),
            422,
            "pixels[783]",
        ),
        (
            "POST",
            Some("image/png"),
            b"%PDF-1.4 not a png".to_vec(),
            400,
            "not a PNG",
        ),
        (
            "POST",
            Some("image/png"),
            png(&GrayImage::new(1, 1))[..20].to_vec(),
            400,
            "image",
        ),
        (
            "POST",
            Some("application/json"),
            serde_json::to_vec(&json!({ "pixels": test.image(3).iter().map(|&p| p as f64 / 255.0).collect::<Vec<_>>() })).unwrap(),
            422,
            "between 0 and 1",
        ),
        (
            "POST",
            Some("application/octet-stream"),
            b"%PDF-1.4".to_vec(),
            415,
            "not a PNG",
        ),
        (
            "POST",
            Some("multipart/form-data; boundary=B"),
            b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--B--\r\n".to_vec(),
            400,
            "no file",
        ),
        (
            "POST",
            Some("multipart/form-data"),
            b"--B--".to_vec(),
            400,
            "multipart",
        ),
        ("POST", Some("text/plain"), b"7".to_vec(), 415, "text/plain"),
        ("POST", None, b"7".to_vec(), 415, "content-type"),
        (
            "POST",
            Some("image/png"),
            vec![0; (1 << 20) + 1],
            413,
            "1 MiB",
        ),
        ("DELETE", None, vec![], 405, "DELETE"),
    ];
    for (method, ctype, body, want, says) in bad {
        let (status, v) = call(&a, method, &url, ctype, &body);
        let msg = v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error field: {v}"));
        assert_eq!(status, want, "{method} {ctype:?}: {msg}");
        assert!(msg.contains(says), "{ctype:?}: '{msg}' should say '{says}'");
    }
    let (status, v) = call(&a, "GET", &format!("{base}/nothing-here"), None, b"");
    assert_eq!(status, 404);
    assert!(v["error"].as_str().unwrap().contains("/nothing-here"));

    // Over 1 MiB without a declared length (chunked), and a request that is not HTTP:
    // refused, and the server goes on serving.
    let mut s = TcpStream::connect(server.addr()).unwrap();
    write!(s, "POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").unwrap();
    let chunk = vec![b'a'; 65536];
    for _ in 0..17 {
        write!(s, "{:x}\r\n", chunk.len()).unwrap();
        if s.write_all(&chunk).is_err() {
            break;
        }
        let _ = s.write_all(b"\r\n");
    }
    let _ = s.write_all(b"0\r\n\r\n");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.write_all(b"\x16\x03\x01\x02\x00garbage\r\n\r\n").unwrap();
    let mut junk = Vec::new();
    let _ = s.read_to_end(&mut junk);
    assert_eq!(
        call(&a, "GET", &format!("{base}/healthz"), None, b"").0,
        200
    );

    // Concurrent clients get the same answers as one.
    let body = serde_json::to_vec(&json!({ "pixels": test.image(0) })).unwrap();
    let (_, one) = call(&a, "POST", &url, Some("application/json"), &body);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                let a = agent();
                for _ in 0..25 {
                    let (status, v) = call(&a, "POST", &url, Some("application/json"), &body);
                    assert_eq!(status, 200);
                    assert_eq!(v, one);
                }
            });
        }
    });

    // Shutdown returns once the requests in progress are done; nothing answers afterwards.
    let addr = server.addr();
    server.shutdown();
    let gone = agent().get(format!("http://{addr}/healthz")).call();
    assert!(gone.is_err(), "still answering after shutdown");
}

#[test]
fn serve_command_starts_refuses_bad_models_and_stops_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = model_file(dir.path());
    let bin = env!("CARGO_BIN_EXE_scrawl");

    // A model that does not take 28x28 images, a missing file, a port in use.
    let odd = dir.path().join("odd.safetensors");
    Sequential::new(
        scrawl::model::ModelConfig::from_json_file(&{
            let f = dir.path().join("odd.json");
            std::fs::write(
                &f,
                r#"{"name": "odd", "input_shape": [5], "layers": [{"type": "Dense", "units": 10, "activation": "softmax"}]}"#,
            )
            .unwrap();
            f
        })
        .unwrap(),
        0,
    )
    .unwrap()
    .save(&odd)
    .unwrap();
    for (model, says) in [
        (odd.clone(), "28x28"),
        (
            dir.path().join("missing.safetensors"),
            "missing.safetensors",
        ),
    ] {
        let out = Command::new(bin)
            .args(["serve", "--addr", "127.0.0.1:0", "--model"])
            .arg(&model)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(says) && !err.contains("panicked"), "{err}");
    }
    let out = Command::new(bin)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--threads",
            "0",
            "--model",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--threads"));

    let mut child = Command::new(bin)
        .args(["serve", "--addr", "127.0.0.1:0", "--model"])
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let url = format!("http://{}/", common::served_address(&mut stdout));
    assert_eq!(
        call(&agent(), "GET", &format!("{url}healthz"), None, b"").0,
        200
    );
    // The same port cannot be taken twice: a clear error.
    let taken = url.trim_start_matches("http://").trim_end_matches('/');
    let out = Command::new(bin)
        .args(["serve", "--addr", taken, "--model"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("cannot listen on {taken}")));

    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{status:?}");
    assert!(rest.contains("Stopped."), "{rest}");
}

/// Servers in one process each keep their model on a pool of their own: more servers
/// than the machine has cores all answer, and the global pool stays free for the
/// process's own work (it once held a worker of the global pool per server, so a
/// third server on two cores never answered).
#[test]
fn several_servers_in_one_process_all_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (path, reference) = model_file(dir.path());
    let servers: Vec<Server> = (0..rayon::current_num_threads() + 2)
        .map(|_| {
            Server::start(
                &path,
                &ServeOptions {
                    addr: "127.0.0.1:0".into(),
                    quiet: true,
                    ..ServeOptions::default()
                },
            )
            .unwrap()
        })
        .collect();
    let a: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let pixels = common::mnist().test.image(0).to_vec();
    let x: Vec<f32> = pixels.iter().map(|&p| (p as f64 / 255.0) as f32).collect();
    let want = reference.predict_values(&x).unwrap();
    let body = serde_json::to_vec(&json!({ "pixels": pixels })).unwrap();
    for server in &servers {
        let url = format!("http://{}/api/predict", server.addr());
        let (status, v) = call(&a, "POST", &url, Some("application/json"), &body);
        assert_eq!(status, 200, "{v}");
        let got: Vec<f32> = serde_json::from_value(v["probabilities"].clone()).unwrap();
        assert_eq!(got, want);
    }
    for server in servers {
        server.shutdown();
    }
}
