//! Tests of `reporting::plot`: PNG files, sizes, atomic writes, errors.

use std::fs;
use std::path::{Path, PathBuf};

use reporting::plot::{Chart, PlotError, Series, write_png};

// ----------------------------------------------------------------- plot

/// A fresh, empty directory for one test under Cargo's scratch folder.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("stats_plot")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Width and height from the PNG signature and IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = fs::read(path).unwrap();
    assert!(
        bytes.len() > 33,
        "{} is too short for a PNG",
        path.display()
    );
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[8..12], &13u32.to_be_bytes(), "IHDR length");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

fn assert_no_temp_files(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(
            !name.to_string_lossy().contains(".tmp"),
            "temporary file {name:?} left in {}",
            dir.display()
        );
    }
}

/// Two noisy accuracy curves over 20 epochs, each with a band.
fn two_series() -> Vec<Series> {
    let curve = |offset: f64, wobble: f64| -> Series {
        let points: Vec<(f64, f64)> = (1..=20)
            .map(|e| {
                let x = f64::from(e);
                (x, 93.5 + offset - 8.0 / x + wobble * (x * 1.7).sin())
            })
            .collect();
        let band = points
            .iter()
            .map(|&(x, y)| (x, y - 0.4 - 1.5 / x, y + 0.4 + 1.5 / x))
            .collect();
        Series {
            label: String::new(),
            points,
            band: Some(band),
        }
    };
    vec![
        Series {
            label: "baseline (5 seeds)".into(),
            ..curve(0.0, 0.15)
        },
        Series {
            label: "+ random erasing (5 seeds)".into(),
            ..curve(0.6, 0.1)
        },
    ]
}

#[test]
fn writes_sample_chart_with_bands() {
    let dir = scratch("sample");
    let path = dir.join("sample.png");
    let series = two_series();
    let chart = Chart {
        title: "Test accuracy",
        x_label: "epoch",
        y_label: "accuracy (%)",
        series: &series,
    };
    write_png(&path, &chart, 640, 480).unwrap();
    assert_eq!(png_size(&path), (640, 480));
    assert_no_temp_files(&dir);

    // Overwriting an existing chart works and stays atomic. This is the
    // sample to look at: target/tmp/stats_plot/sample/sample.png.
    write_png(&path, &chart, 800, 500).unwrap();
    assert_eq!(png_size(&path), (800, 500));
    assert_no_temp_files(&dir);
}

#[test]
fn single_point_plots() {
    let dir = scratch("single");
    let path = dir.join("one.png");
    let series = [Series {
        label: "only".into(),
        points: vec![(1.0, 91.2)],
        band: None,
    }];
    let chart = Chart {
        title: "One epoch",
        x_label: "epoch",
        y_label: "accuracy (%)",
        series: &series,
    };
    write_png(&path, &chart, 400, 300).unwrap();
    assert_eq!(png_size(&path), (400, 300));
    assert_no_temp_files(&dir);
}

#[test]
fn empty_and_non_finite_charts_say_no_data() {
    let dir = scratch("empty");
    let empty = Chart {
        title: "Nothing yet",
        x_label: "epoch",
        y_label: "loss",
        series: &[],
    };
    write_png(&dir.join("empty.png"), &empty, 300, 200).unwrap();
    assert_eq!(png_size(&dir.join("empty.png")), (300, 200));

    let nan = [Series {
        label: "diverged".into(),
        points: vec![(1.0, f64::NAN), (f64::INFINITY, 2.0)],
        band: Some(vec![(1.0, f64::NAN, 1.0)]),
    }];
    let chart = Chart {
        series: &nan,
        ..empty
    };
    write_png(&dir.join("nan.png"), &chart, 300, 200).unwrap();
    assert_eq!(png_size(&dir.join("nan.png")), (300, 200));
    assert_no_temp_files(&dir);
}

#[test]
fn gaps_from_non_finite_points_still_plot() {
    let dir = scratch("gaps");
    let path = dir.join("gaps.png");
    let series = [
        Series {
            label: "loss".into(),
            points: vec![(1.0, 2.0), (2.0, f64::NAN), (3.0, 1.0), (4.0, 0.8)],
            band: Some(vec![
                (1.0, 1.8, 2.2),
                (3.0, 0.9, 1.1),
                (4.0, f64::INFINITY, 0.9),
            ]),
        },
        Series {
            label: "constant".into(),
            points: vec![(1.0, 1.5), (4.0, 1.5)],
            band: None,
        },
    ];
    let chart = Chart {
        title: "Training loss",
        x_label: "epoch",
        y_label: "loss",
        series: &series,
    };
    write_png(&path, &chart, 1, 1).unwrap();
    assert_eq!(png_size(&path), (1, 1));
    write_png(&path, &chart, 1024, 768).unwrap();
    assert_eq!(png_size(&path), (1024, 768));
    assert_no_temp_files(&dir);
}

#[test]
fn unwritable_path_names_the_path() {
    let dir = scratch("unwritable");
    // A regular file where a directory should be: fails even for root.
    let file = dir.join("not-a-dir");
    fs::write(&file, b"x").unwrap();
    let path = file.join("chart.png");
    let chart = Chart {
        title: "t",
        x_label: "x",
        y_label: "y",
        series: &[],
    };
    let err = write_png(&path, &chart, 200, 100).unwrap_err();
    assert!(matches!(err, PlotError::Io { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "error does not name the path: {err}"
    );
    assert_no_temp_files(&dir);
}

#[test]
fn zero_size_is_an_error() {
    let dir = scratch("zero");
    let path = dir.join("zero.png");
    let chart = Chart {
        title: "t",
        x_label: "x",
        y_label: "y",
        series: &[],
    };
    let err = write_png(&path, &chart, 0, 100).unwrap_err();
    assert!(matches!(
        err,
        PlotError::InvalidSize {
            width: 0,
            height: 100,
            ..
        }
    ));
    assert!(err.to_string().contains(&path.display().to_string()));
    assert!(!path.exists());
}

/// `replicate --reports DIR` with a DIR that does not exist yet: the chart's folder is
/// made, as the markdown's is (a run once failed its report on this).
#[test]
fn a_missing_reports_folder_is_created() {
    let dir = scratch("missing-folder");
    let path = dir.join("reports/sub/chart.png");
    let chart = Chart {
        title: "t",
        x_label: "x",
        y_label: "y",
        series: &[],
    };
    write_png(&path, &chart, 200, 100).unwrap();
    assert!(path.is_file());
}
