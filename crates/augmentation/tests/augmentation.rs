//! Integration tests of the augmentations on small synthetic batches (CPU).

use augmentation::{
    AugmentError, Augmentation, Drawn, EraseRect, Pipeline, STREAM, Shift, erase, flip, translate,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

/// A batch of pixels in `[0.1, 1)` (never 0, never exactly an erase value we use),
/// generated on the host so that no test touches libtorch's global generator.
fn batch(n: i64, c: i64, h: i64, w: i64, seed: u64) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values: Vec<f32> = (0..n * c * h * w)
        .map(|_| 0.1 + 0.9 * rng.random::<f32>())
        .collect();
    Tensor::from_slice(&values).view([n, c, h, w])
}

fn host(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.contiguous().view([-1])).unwrap()
}

fn erasing(p: f64, scale: (f64, f64), ratio: (f64, f64), value: f64) -> Augmentation {
    Augmentation::RandomErasing {
        p,
        scale,
        ratio,
        value,
    }
}

#[test]
fn flip_p1_is_flip_and_p0_is_identity() {
    let xs = batch(5, 2, 6, 7, 1);
    let mut always = Pipeline::new(vec![Augmentation::HorizontalFlip { p: 1.0 }], 3);
    assert!(always.apply(&xs).equal(&xs.flip([3])));
    let mut never = Pipeline::new(vec![Augmentation::HorizontalFlip { p: 0.0 }], 3);
    assert!(never.apply(&xs).equal(&xs));
}

#[test]
fn flip_half_flips_exactly_the_drawn_images() {
    let xs = batch(64, 1, 5, 5, 2);
    let mut pipeline = Pipeline::new(vec![Augmentation::DEFAULT_FLIP], 4);
    let (out, drawn) = pipeline.apply_with_params(&xs);
    let [Drawn::Flip(mask)] = &drawn[..] else {
        panic!("{drawn:?}")
    };
    let flipped = mask.iter().filter(|&&m| m).count();
    assert!(
        (16..=48).contains(&flipped),
        "{flipped} of 64 flipped at p = 0.5"
    );
    for (i, &m) in mask.iter().enumerate() {
        let i = i as i64;
        let expected = if m { xs.get(i).flip([2]) } else { xs.get(i) };
        assert!(out.get(i).equal(&expected), "image {i}");
    }
}

/// Checks that the pixels changed in image `i` form one rectangle equal to `value`
/// in every channel, and returns it (None when the image is unchanged).
fn changed_rect(
    before: &[f32],
    after: &[f32],
    c: usize,
    h: usize,
    w: usize,
    value: f32,
) -> Option<EraseRect> {
    let at = |ch: usize, y: usize, x: usize| ch * h * w + y * w + x;
    let changed = |y: usize, x: usize| (0..c).any(|ch| before[at(ch, y, x)] != after[at(ch, y, x)]);
    let cells: Vec<(usize, usize)> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (y, x)))
        .filter(|&(y, x)| changed(y, x))
        .collect();
    if cells.is_empty() {
        return None;
    }
    let (top, bottom) = (
        cells.iter().map(|p| p.0).min()?,
        cells.iter().map(|p| p.0).max()?,
    );
    let (left, right) = (
        cells.iter().map(|p| p.1).min()?,
        cells.iter().map(|p| p.1).max()?,
    );
    assert_eq!(
        cells.len(),
        (bottom - top + 1) * (right - left + 1),
        "changed pixels are not a rectangle"
    );
    for &(y, x) in &cells {
        for ch in 0..c {
            assert_eq!(after[at(ch, y, x)], value, "erased pixel ({ch}, {y}, {x})");
        }
    }
    let r = EraseRect {
        top: top as i64,
        left: left as i64,
        height: (bottom - top + 1) as i64,
        width: (right - left + 1) as i64,
    };
    Some(r)
}

fn check_erasing(aug: Augmentation, n: i64, c: i64, h: i64, w: i64, seed: u64) -> usize {
    let Augmentation::RandomErasing {
        scale,
        ratio,
        value,
        ..
    } = aug
    else {
        unreachable!()
    };
    let xs = batch(n, c, h, w, seed);
    let mut pipeline = Pipeline::new(vec![aug], seed);
    let (out, drawn) = pipeline.apply_with_params(&xs);
    let [Drawn::Erasing { rects, .. }] = &drawn[..] else {
        panic!("{drawn:?}")
    };
    let (before, after) = (host(&xs), host(&out));
    let image = (c * h * w) as usize;
    let area = (h * w) as f64;
    let mut erased = 0;
    for (i, drawn_rect) in rects.iter().enumerate() {
        let span = i * image..(i + 1) * image;
        let seen = changed_rect(
            &before[span.clone()],
            &after[span],
            c as usize,
            h as usize,
            w as usize,
            value as f32,
        );
        assert_eq!(
            &seen, drawn_rect,
            "image {i}: changed pixels vs drawn rectangle"
        );
        let Some(r) = seen else { continue };
        erased += 1;
        let (rh, rw) = (r.height as f64, r.width as f64);
        assert!(
            r.height < h && r.width < w,
            "{r:?} must be smaller than the image"
        );
        // h = round(sqrt(A r)), w = round(sqrt(A / r)) with A in scale * H * W:
        // rounding moves each side by at most 1/2.
        assert!((rh + 0.5) * (rw + 0.5) >= scale.0 * area, "{r:?} too small");
        assert!((rh - 0.5) * (rw - 0.5) <= scale.1 * area, "{r:?} too large");
        assert!(
            (rh + 0.5) / (rw - 0.5) >= ratio.0 && (rh - 0.5) / (rw + 0.5) <= ratio.1,
            "{r:?} ratio"
        );
    }
    erased
}

#[test]
fn erasing_changes_one_rectangle_per_image_within_bounds() {
    let erased = check_erasing(Augmentation::DEFAULT_ERASING, 200, 2, 28, 28, 5);
    assert!(
        (60..=140).contains(&erased),
        "{erased} of 200 erased at p = 0.5"
    );
    let all = check_erasing(erasing(1.0, (0.1, 0.2), (0.5, 2.0), 0.5), 100, 1, 28, 28, 6);
    assert_eq!(all, 100);
    // Non-square images, wide ratios: many attempts fail, some images stay unchanged.
    check_erasing(
        erasing(1.0, (0.2, 0.6), (0.1, 10.0), 0.25),
        100,
        3,
        10,
        17,
        7,
    );
}

#[test]
fn erasing_leaves_the_image_when_nothing_fits() {
    // The whole image never fits (torchvision requires h < H and w < W).
    let xs = batch(20, 1, 8, 8, 8);
    let mut pipeline = Pipeline::new(vec![erasing(1.0, (1.0, 1.0), (1.0, 1.0), 0.0)], 8);
    let (out, drawn) = pipeline.apply_with_params(&xs);
    assert!(out.equal(&xs));
    assert_eq!(
        drawn,
        [Drawn::Erasing {
            rects: vec![None; 20],
            value: 0.0
        }]
    );
}

#[test]
fn erase_with_given_rectangles() {
    let xs = Tensor::ones([2, 1, 4, 5], (Kind::Float, Device::Cpu));
    let rect = EraseRect {
        top: 1,
        left: 2,
        height: 2,
        width: 3,
    };
    let out = erase(&xs, &[Some(rect), None], 0.0);
    #[rustfmt::skip]
    let expected: Vec<f32> = vec![
        1., 1., 1., 1., 1.,
        1., 1., 0., 0., 0.,
        1., 1., 0., 0., 0.,
        1., 1., 1., 1., 1.,
    ];
    assert_eq!(host(&out.get(0)), expected);
    assert!(out.get(1).equal(&xs.get(1)));
}

/// The expected result of shifting `xs` by `shifts`, computed pixel by pixel on the host.
fn shifted_on_host(xs: &Tensor, shifts: &[Shift]) -> Vec<f32> {
    let (n, c, h, w) = xs.size4().unwrap();
    let src = host(xs);
    let mut out = vec![0.0; src.len()];
    for i in 0..n {
        let s = shifts[i as usize];
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    let (sy, sx) = (y - s.dy, x - s.dx);
                    if (0..h).contains(&sy) && (0..w).contains(&sx) {
                        let base = (i * c + ch) * h * w;
                        out[(base + y * w + x) as usize] = src[(base + sy * w + sx) as usize];
                    }
                }
            }
        }
    }
    out
}

#[test]
fn translation_moves_content_by_the_drawn_offset_and_fills_zero() {
    let xs = batch(64, 2, 8, 12, 9);
    let mut pipeline = Pipeline::new(vec![Augmentation::RandomTranslation { fraction: 0.25 }], 9);
    let (out, drawn) = pipeline.apply_with_params(&xs);
    let [Drawn::Translation(shifts)] = &drawn[..] else {
        panic!("{drawn:?}")
    };
    assert_eq!(host(&out), shifted_on_host(&xs, shifts));
    // max dx = 0.25 * 12 = 3, max dy = 0.25 * 8 = 2.
    assert!(
        shifts.iter().all(|s| s.dx.abs() <= 3 && s.dy.abs() <= 2),
        "{shifts:?}"
    );
    assert!(shifts.iter().any(|s| s.dx != 0 || s.dy != 0));
}

#[test]
fn translate_with_a_known_offset() {
    let xs = Tensor::arange(12, (Kind::Float, Device::Cpu)).view([1, 1, 3, 4]) + 1.0;
    // Right by 1, up by 1.
    let out = translate(&xs, &[Shift { dx: 1, dy: -1 }]);
    #[rustfmt::skip]
    let expected: Vec<f32> = vec![
        0.,  5.,  6.,  7.,
        0.,  9., 10., 11.,
        0.,  0.,  0.,  0.,
    ];
    assert_eq!(host(&out), expected);
    // Shifting by the whole side or more leaves nothing.
    let gone = translate(&xs, &[Shift { dx: 4, dy: 0 }]);
    assert_eq!(host(&gone), vec![0.0; 12]);
    assert!(translate(&xs, &[Shift::default()]).equal(&xs));
}

#[test]
fn translation_offsets_follow_torchvision() {
    // f = 0.1 on 28 x 28: round(U(-2.8, 2.8)), so every offset in -3..=3 occurs.
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let Drawn::Translation(shifts) = Augmentation::DEFAULT_TRANSLATION.draw(&mut rng, 4000, 28, 28)
    else {
        panic!()
    };
    for d in -3..=3 {
        assert!(shifts.iter().any(|s| s.dx == d), "dx = {d} never drawn");
        assert!(shifts.iter().any(|s| s.dy == d), "dy = {d} never drawn");
    }
    assert!(shifts.iter().all(|s| s.dx.abs() <= 3 && s.dy.abs() <= 3));
}

fn everything() -> Vec<Augmentation> {
    vec![
        Augmentation::DEFAULT_FLIP,
        Augmentation::DEFAULT_ERASING,
        Augmentation::DEFAULT_TRANSLATION,
    ]
}

#[test]
fn same_seed_same_batches_different_seed_different_batches() {
    let batches: Vec<Tensor> = (0..3).map(|i| batch(32, 1, 28, 28, 100 + i)).collect();
    let run = |seed| {
        let mut pipeline = Pipeline::new(everything(), seed);
        batches
            .iter()
            .map(|b| pipeline.apply(b))
            .collect::<Vec<_>>()
    };
    let (a, b, c) = (run(11), run(11), run(12));
    for i in 0..3 {
        assert!(a[i].equal(&b[i]), "batch {i} differs for the same seed");
        assert!(
            !a[i].equal(&c[i]),
            "batch {i} identical for different seeds"
        );
    }
    // Successive batches of one pipeline get fresh randomness.
    let mut pipeline = Pipeline::new(everything(), 11);
    let (_, first) = pipeline.apply_with_params(&batches[0]);
    let (_, second) = pipeline.apply_with_params(&batches[0]);
    assert_ne!(first, second);
}

#[test]
fn reseed_restarts_the_stream_whatever_was_drawn_before() {
    let images = batch(32, 1, 28, 28, 200);
    // A pipeline that has drawn for a few batches, then is re-seeded, draws exactly what
    // a fresh pipeline with that seed draws: the position of the old stream is forgotten.
    let mut used = Pipeline::new(everything(), 21);
    for _ in 0..3 {
        let _ = used.apply(&images);
    }
    used.reseed(22);
    let mut fresh = Pipeline::new(everything(), 22);
    let (a, drawn_a) = used.apply_with_params(&images);
    let (b, drawn_b) = fresh.apply_with_params(&images);
    assert_eq!(drawn_a, drawn_b);
    assert!(a.equal(&b));
    // Re-seeding with the seed it started from replays the first batch.
    let mut replay = Pipeline::new(everything(), 21);
    let (_, first) = replay.apply_with_params(&images);
    let _ = replay.apply(&images);
    replay.reseed(21);
    let (_, again) = replay.apply_with_params(&images);
    assert_eq!(first, again);
    // A different seed gives different draws.
    replay.reseed(23);
    let (_, other) = replay.apply_with_params(&images);
    assert_ne!(first, other);
}

#[test]
fn pipeline_draws_from_its_own_chacha_stream() {
    let mut pipeline = Pipeline::new(vec![Augmentation::DEFAULT_FLIP], 13);
    let (_, drawn) = pipeline.apply_with_params(&batch(16, 1, 4, 4, 13));
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    rng.set_stream(STREAM);
    assert_eq!(
        drawn[0],
        Augmentation::DEFAULT_FLIP.draw(&mut rng, 16, 4, 4)
    );
    let mut stream0 = ChaCha8Rng::seed_from_u64(13);
    assert_ne!(
        drawn[0],
        Augmentation::DEFAULT_FLIP.draw(&mut stream0, 16, 4, 4)
    );
}

#[test]
fn torch_global_generator_is_untouched() {
    tch::manual_seed(14);
    let expected = Tensor::rand([8], (Kind::Float, Device::Cpu));
    tch::manual_seed(14);
    let mut pipeline = Pipeline::new(everything(), 14);
    let _ = pipeline.apply(&batch(16, 1, 28, 28, 14));
    assert!(Tensor::rand([8], (Kind::Float, Device::Cpu)).equal(&expected));
}

#[test]
fn composition_follows_the_configured_order() {
    let augs = vec![
        erasing(1.0, (0.1, 0.3), (0.3, 3.3), 0.5),
        Augmentation::RandomTranslation { fraction: 0.2 },
        Augmentation::HorizontalFlip { p: 0.5 },
    ];
    let xs = batch(16, 1, 12, 12, 15);
    let mut pipeline = Pipeline::new(augs.clone(), 15);
    let (out, drawn) = pipeline.apply_with_params(&xs);
    let names: Vec<&str> = drawn
        .iter()
        .map(|d| match d {
            Drawn::Flip(_) => "flip",
            Drawn::Erasing { .. } => "erasing",
            Drawn::Translation(_) => "translation",
        })
        .collect();
    let configured: Vec<&str> = augs.iter().map(Augmentation::name).collect();
    assert_eq!(names, configured);
    let in_order = drawn.iter().fold(xs.shallow_clone(), |x, d| d.apply(&x));
    assert!(out.equal(&in_order));
    let reversed = drawn
        .iter()
        .rev()
        .fold(xs.shallow_clone(), |x, d| d.apply(&x));
    assert!(
        !out.equal(&reversed),
        "the test needs non-commuting parameters"
    );
}

#[test]
fn empty_pipeline_and_empty_batch() {
    let xs = batch(4, 1, 5, 5, 16);
    let mut empty = Pipeline::new(Vec::new(), 16);
    assert!(empty.is_empty());
    let (out, drawn) = empty.apply_with_params(&xs);
    assert!(out.equal(&xs) && drawn.is_empty());
    let mut pipeline = Pipeline::new(everything(), 16);
    assert!(!pipeline.is_empty());
    assert_eq!(pipeline.augmentations(), &everything()[..]);
    let none = Tensor::zeros([0, 1, 28, 28], (Kind::Float, Device::Cpu));
    assert_eq!(pipeline.apply(&none).size(), [0, 1, 28, 28]);
}

#[test]
fn non_contiguous_input() {
    let xs = batch(6, 1, 9, 9, 17);
    let transposed = xs.transpose(2, 3);
    assert!(!transposed.is_contiguous());
    let mut a = Pipeline::new(everything(), 17);
    let mut b = Pipeline::new(everything(), 17);
    assert!(
        a.apply(&transposed)
            .equal(&b.apply(&transposed.contiguous()))
    );
}

#[test]
#[should_panic(expected = "NCHW")]
fn rejects_non_batched_input() {
    let mut pipeline = Pipeline::new(vec![Augmentation::DEFAULT_FLIP], 0);
    let _ = pipeline.apply(&Tensor::zeros([1, 28, 28], (Kind::Float, Device::Cpu)));
}

#[test]
#[should_panic(expected = "per-image parameters")]
fn rejects_mismatched_parameters() {
    let _ = flip(&batch(3, 1, 2, 2, 0), &[true, false]);
}

#[test]
fn validate_names_each_bad_field() {
    for aug in everything() {
        assert_eq!(aug.validate(), Ok(()));
    }
    let good = Augmentation::DEFAULT_ERASING;
    let Augmentation::RandomErasing {
        p,
        scale,
        ratio,
        value,
    } = good.clone()
    else {
        unreachable!()
    };
    let cases = [
        (Augmentation::HorizontalFlip { p: 1.5 }, "flip", "p"),
        (Augmentation::HorizontalFlip { p: -0.1 }, "flip", "p"),
        (Augmentation::HorizontalFlip { p: f64::NAN }, "flip", "p"),
        (erasing(2.0, scale, ratio, value), "erasing", "p"),
        (erasing(p, (0.0, 0.3), ratio, value), "erasing", "scale"),
        (erasing(p, (0.4, 0.3), ratio, value), "erasing", "scale"),
        (erasing(p, (0.1, 1.2), ratio, value), "erasing", "scale"),
        (
            erasing(p, (f64::NAN, 0.3), ratio, value),
            "erasing",
            "scale",
        ),
        (erasing(p, scale, (0.0, 3.3), value), "erasing", "ratio"),
        (erasing(p, scale, (3.3, 0.3), value), "erasing", "ratio"),
        (
            erasing(p, scale, (0.3, f64::INFINITY), value),
            "erasing",
            "ratio",
        ),
        (erasing(p, scale, ratio, f64::NAN), "erasing", "value"),
        (
            Augmentation::RandomTranslation { fraction: 0.6 },
            "translation",
            "fraction",
        ),
        (
            Augmentation::RandomTranslation { fraction: -0.1 },
            "translation",
            "fraction",
        ),
    ];
    for (aug, name, field) in cases {
        let err: AugmentError = aug.validate().unwrap_err();
        assert_eq!((err.augmentation, err.field), (name, field), "{aug:?}");
        assert!(err.to_string().contains(field), "{err}");
        assert_eq!(
            Pipeline::try_new(vec![Augmentation::DEFAULT_FLIP, aug], 0).unwrap_err(),
            err
        );
    }
    // Edges that are allowed.
    assert!(
        erasing(0.0, (1.0, 1.0), (2.0, 2.0), -1.0)
            .validate()
            .is_ok()
    );
    assert!(
        Augmentation::RandomTranslation { fraction: 0.5 }
            .validate()
            .is_ok()
    );
    assert!(
        Augmentation::RandomTranslation { fraction: 0.0 }
            .validate()
            .is_ok()
    );
}

#[test]
#[should_panic(expected = "fraction")]
fn new_panics_on_invalid_augmentation() {
    let _ = Pipeline::new(vec![Augmentation::RandomTranslation { fraction: 1.0 }], 0);
}

#[test]
fn names() {
    let names: Vec<&str> = everything().iter().map(Augmentation::name).collect();
    assert_eq!(names, ["flip", "erasing", "translation"]);
}

#[test]
fn ron_defaults() {
    let parse = |s: &str| ron::from_str::<Augmentation>(s).unwrap();
    assert_eq!(
        parse("HorizontalFlip()"),
        Augmentation::HorizontalFlip { p: 0.5 }
    );
    assert_eq!(
        parse("HorizontalFlip(p: 0.3)"),
        Augmentation::HorizontalFlip { p: 0.3 }
    );
    assert_eq!(parse("RandomErasing()"), Augmentation::DEFAULT_ERASING);
    assert_eq!(
        parse("RandomErasing(p: 1.0, value: 0.5)"),
        erasing(1.0, (0.02, 0.33), (0.3, 3.3), 0.5)
    );
    assert_eq!(
        parse("RandomErasing(scale: (0.1, 0.2))"),
        erasing(0.5, (0.1, 0.2), (0.3, 3.3), 0.0)
    );
    assert_eq!(
        parse("RandomTranslation()"),
        Augmentation::RandomTranslation { fraction: 0.1 }
    );
    assert_eq!(
        parse("RandomTranslation(fraction: 0.2)"),
        Augmentation::RandomTranslation { fraction: 0.2 }
    );
    let list: Vec<Augmentation> =
        ron::from_str("[HorizontalFlip(), RandomErasing(), RandomTranslation()]").unwrap();
    assert_eq!(list, everything());
    assert!(ron::from_str::<Augmentation>("HorizontalFlip(prob: 0.3)").is_err());
    assert!(ron::from_str::<Augmentation>("VerticalFlip()").is_err());
    for aug in everything() {
        let text = ron::to_string(&aug).unwrap();
        assert_eq!(ron::from_str::<Augmentation>(&text).unwrap(), aug, "{text}");
    }
}

#[test]
fn json_round_trip() {
    for aug in everything() {
        let text = serde_json::to_string(&aug).unwrap();
        assert_eq!(
            serde_json::from_str::<Augmentation>(&text).unwrap(),
            aug,
            "{text}"
        );
    }
    let flip: Augmentation = serde_json::from_str(r#"{"HorizontalFlip":{}}"#).unwrap();
    assert_eq!(flip, Augmentation::DEFAULT_FLIP);
}
