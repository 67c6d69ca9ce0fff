//! EXIF orientation: the 8 ways a camera can store a photo relative to how
//! it is meant to be displayed.
//!
//! The classic Lambda + Pillow thumbnailer ignored the tag, so phone photos
//! came out sideways. We read it during probing and apply it to the finished
//! thumbnail: flipping a 300x200 image is far cheaper than flipping the
//! 20-megapixel source, and centre crops and resampling commute with the
//! flips and quarter turns. Outputs carry no EXIF, so nothing downstream
//! rotates them a second time.

use image::metadata::Orientation;
use image::DynamicImage;

/// The orientation for an EXIF value; anything outside 1..=8 means "as
/// stored", which is what viewers do with a broken tag.
pub(crate) fn from_exif(value: u8) -> Orientation {
    Orientation::from_exif(value).unwrap_or(Orientation::NoTransforms)
}

/// Whether displaying swaps width and height (the quarter turns, 5..=8).
pub(crate) fn swaps_axes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// Displayed size of a stored `width` x `height` image.
pub(crate) fn displayed_size(width: u32, height: u32, orientation: Orientation) -> (u32, u32) {
    if swaps_axes(orientation) {
        (height, width)
    } else {
        (width, height)
    }
}

/// Turns stored pixels into displayed pixels.
pub(crate) fn apply(mut image: DynamicImage, orientation: Orientation) -> DynamicImage {
    image.apply_orientation(orientation);
    image
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    /// A 3x2 image whose every pixel is distinct: [[0,1,2],[3,4,5]].
    fn sample() -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(3, 2, |x, y| {
            Rgb([u8::try_from(y * 3 + x).unwrap(), 0, 0])
        }))
    }

    fn values(image: &DynamicImage) -> Vec<Vec<u8>> {
        let rgb = image.to_rgb8();
        (0..rgb.height())
            .map(|y| (0..rgb.width()).map(|x| rgb.get_pixel(x, y)[0]).collect())
            .collect()
    }

    #[test]
    fn orient_all_eight_values_match_exif_spec() {
        // Stored [[0,1,2],[3,4,5]]; displayed per the EXIF definitions
        // (value -> where the stored 0th row / 0th column end up).
        let expected: [(u8, Vec<Vec<u8>>); 8] = [
            (1, vec![vec![0, 1, 2], vec![3, 4, 5]]),
            (2, vec![vec![2, 1, 0], vec![5, 4, 3]]),
            (3, vec![vec![5, 4, 3], vec![2, 1, 0]]),
            (4, vec![vec![3, 4, 5], vec![0, 1, 2]]),
            (5, vec![vec![0, 3], vec![1, 4], vec![2, 5]]),
            (6, vec![vec![3, 0], vec![4, 1], vec![5, 2]]),
            (7, vec![vec![5, 2], vec![4, 1], vec![3, 0]]),
            (8, vec![vec![2, 5], vec![1, 4], vec![0, 3]]),
        ];
        for (value, want) in expected {
            let o = from_exif(value);
            assert_eq!(o.to_exif(), value);
            let shown = apply(sample(), o);
            assert_eq!(values(&shown), want, "orientation {value}");
            assert_eq!(
                displayed_size(3, 2, o),
                (shown.width(), shown.height()),
                "orientation {value}"
            );
        }
    }

    #[test]
    fn orient_invalid_values_mean_as_stored() {
        for v in [0, 9, 255] {
            assert_eq!(from_exif(v), Orientation::NoTransforms);
        }
    }
}
