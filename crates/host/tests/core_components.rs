//! Loads the built core components (`make build`) in our wasmtime host and
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic
//! calls their exports: the portable engines work outside Spin.

use std::path::PathBuf;

use thumbflow::cores::{
    CallError, ImageFormat, ImageLimits, NormalizeOptions, Outcome, WebhookOptions,
};
use thumbflow::{InvocationLimits, NormalizerCore, NotifierCore, Runtime, ThumbnailerCore};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn wasm(name: &str) -> PathBuf {
    let path = root()
        .join("target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `make build` first",
        path.display()
    );
    path
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures").join(name)).expect("fixture")
}

fn options() -> NormalizeOptions {
    NormalizeOptions {
        thumbnail_prefix: "thumbnails/".into(),
        received_at: "2026-11-27T00:00:00Z".into(),
        max_event_bytes: 262_144,
    }
}

fn limits() -> ImageLimits {
    ImageLimits {
        max_pixels: 100_000_000,
        max_side: 16_384,
        max_input_bytes: 64 << 20,
        max_frames: 10_000,
        memory_budget: 512 << 20,
    }
}

/// The CloudTrail-shaped EventBridge sample from the issue, exactly as written
/// (with its repeated `eventName` key).
const CLOUDTRAIL: &str = r#"{"version":"0.1","id":"abcd1234-ab12-cd34-ef56-1234567890ab","detail-type":"AWS API Call via CloudTrail","source":"aws.s3","account":"123456789012","time":"2024-01-15T12:00:00Z","region":"us-east-1","resources":[],"detail":{"eventSource":"s3.amazonaws.com","eventName":"PutObject","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"my-ecommerce-bucket"},"object":{"key":"products/image123.jpg","size":1024,"eTag":"0123456789abcdef0123456789abcdef","sequencer":"0ABCDEFGHIJK"}}}}"#;

#[test]
fn normalizer_core_normalizes_cloudtrail_sample() {
    let runtime = Runtime::new(InvocationLimits::default()).unwrap();
    let core = NormalizerCore::load(&runtime, &wasm("normalizer_core")).unwrap();
    let outcomes = core.normalize(CLOUDTRAIL.as_bytes(), &options()).unwrap();
    assert_eq!(outcomes.len(), 1);
    let Outcome::Accepted(accepted) = &outcomes[0] else {
        panic!("not accepted: {outcomes:?}")
    };
    assert_eq!(accepted.event.data.bucket, "my-ecommerce-bucket");
    assert_eq!(accepted.event.data.key, "products/image123.jpg");
    assert_eq!(accepted.event.data.size, Some(1024));
    let envelope: serde_json::Value = serde_json::from_str(&accepted.envelope).unwrap();
    assert_eq!(envelope["specversion"], "1.0");
    assert_eq!(envelope["data"]["key"], "products/image123.jpg");
}

#[test]
fn normalizer_core_rejects_malformed_and_ignores_thumbnails() {
    let runtime = Runtime::new(InvocationLimits::default()).unwrap();
    let core = NormalizerCore::load(&runtime, &wasm("normalizer_core")).unwrap();
    let err = core.normalize(b"{\"Records\": [", &options()).unwrap_err();
    assert!(matches!(err, CallError::Reject(_)), "{err:?}");
    let own = CLOUDTRAIL.replace("products/image123.jpg", "thumbnails/products/image123.jpg");
    let outcomes = core.normalize(own.as_bytes(), &options()).unwrap();
    assert!(
        matches!(&outcomes[..], [Outcome::Ignored(_)]),
        "{outcomes:?}"
    );
}

#[test]
fn thumbnailer_core_renders_real_jpeg_within_box() {
    let runtime = Runtime::new(InvocationLimits::default()).unwrap();
    let core = ThumbnailerCore::load(&runtime, &wasm("thumbnailer_core")).unwrap();
    let recipes = core.parse_recipes("").unwrap();
    assert_eq!((recipes[0].width, recipes[0].height), (300, 300));
    // orient6.jpg stores the 480x270 photo as 270x480 pixels with EXIF orientation 6:
    // it must display (and so be thumbnailed) as the 480x270 landscape.
    let source = fixture("images/orient6.jpg");
    let info = core.probe(&source, &limits()).unwrap();
    assert_eq!((info.width, info.height, info.orientation), (270, 480, 6));
    let rendered = core.render(&source, &recipes, &limits()).unwrap();
    assert_eq!(rendered.len(), 1);
    let thumb = &rendered[0];
    assert_eq!(thumb.format, ImageFormat::Jpeg);
    assert_eq!(thumb.content_type, "image/jpeg");
    let decoded =
        image::load_from_memory_with_format(&thumb.bytes, image::ImageFormat::Jpeg).unwrap();
    assert_eq!(
        (decoded.width(), decoded.height()),
        (thumb.width, thumb.height)
    );
    assert_eq!(
        (decoded.width(), decoded.height()),
        (300, 169),
        "480x270 displayed, fitted into 300x300"
    );
    // Same picture as the upright original, by pixels.
    let upright = core
        .render(&fixture("images/upright.jpg"), &recipes, &limits())
        .unwrap();
    let reference = image::load_from_memory(&upright[0].bytes)
        .unwrap()
        .to_rgb8();
    let got = decoded.to_rgb8();
    let diff: f64 = got
        .as_raw()
        .iter()
        .zip(reference.as_raw())
        .map(|(a, b)| f64::from(a.abs_diff(*b)))
        .sum::<f64>()
        / got.as_raw().len() as f64;
    assert!(
        diff < 6.0,
        "mean abs difference {diff:.2} to the upright render"
    );
}

#[test]
fn thumbnailer_core_rejects_non_images_with_typed_error() {
    let runtime = Runtime::new(InvocationLimits::default()).unwrap();
    let core = ThumbnailerCore::load(&runtime, &wasm("thumbnailer_core")).unwrap();
    let recipes = core.parse_recipes("").unwrap();
    let err = core
        .render(b"%PDF-1.7 not an image", &recipes, &limits())
        .unwrap_err();
    assert!(matches!(err, CallError::Reject(_)), "{err:?}");
}

#[test]
fn thumbnailer_core_out_of_memory_is_a_trap_not_a_crash() {
    let tight = InvocationLimits {
        memory_bytes: 2 << 20,
        ..InvocationLimits::default()
    };
    let runtime = Runtime::new(tight).unwrap();
    let core = ThumbnailerCore::load(&runtime, &wasm("thumbnailer_core")).unwrap();
    let recipes = core.parse_recipes("").unwrap();
    let err = core
        .render(&fixture("images/upright.jpg"), &recipes, &limits())
        .unwrap_err();
    assert!(matches!(err, CallError::Trap(_)), "{err:?}");
    // The engine is still usable after a trapped call.
    assert!(core.parse_recipes("").is_ok());
}

#[test]
fn notifier_core_signs_webhook_that_verifies() {
    let runtime = Runtime::new(InvocationLimits::default()).unwrap();
    let core = NotifierCore::load(&runtime, &wasm("notifier_core")).unwrap();
    let event =
        std::fs::read(root().join("crates/events/tests/samples/thumbnail-created.json")).unwrap();
    let options = WebhookOptions {
        url: "http://127.0.0.1:9/hook".into(),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        message_id: "evt-1".into(),
        timestamp: 1_700_000_000,
    };
    let request = core.prepare_webhook(&event, &options).unwrap();
    assert_eq!(request.method, "POST");
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(header("webhook-id"), "evt-1");
    assert!(thumbflow_notify::verify(
        &options.secret,
        "evt-1",
        1_700_000_000,
        &request.body,
        &header("webhook-signature")
    ));
    let err = core.prepare_webhook(b"{}", &options).unwrap_err();
    assert!(matches!(err, CallError::Reject(_)), "{err:?}");
}
