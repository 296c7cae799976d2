//! Page geometry: from "where the reader sees it" to PDF user space.
//!
//! People give positions on the page as displayed (origin at the bottom-left corner of the
//! visible page, after `/Rotate`); PDF annotations live in unrotated user space, offset by the
//! CropBox origin. The mapping is a rotation by a multiple of 90° plus a translation, so
//! rectangles stay axis-aligned.

use crate::error::PdfError;

/// An axis-aligned rectangle: lower-left corner, width and height, in points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x: f64,
    /// Bottom edge.
    pub y: f64,
    /// Width, positive.
    pub width: f64,
    /// Height, positive.
    pub height: f64,
}

impl Rect {
    /// A rectangle with a positive, finite size.
    pub fn new(x: f64, y: f64, width: f64, height: f64) -> Result<Self, PdfError> {
        let all_finite = [x, y, width, height].iter().all(|v| v.is_finite());
        if !all_finite || width <= 0.0 || height <= 0.0 {
            return Err(PdfError::InvalidRect(format!(
                "[{x} {y} {width} {height}] needs a positive width and height"
            )));
        }
        Ok(Self { x, y, width, height })
    }

    /// Builds a rectangle from two corners in any order (as a PDF array is written).
    pub fn from_corners(x0: f64, y0: f64, x1: f64, y1: f64) -> Self {
        Self {
            x: x0.min(x1),
            y: y0.min(y1),
            width: (x1 - x0).abs(),
            height: (y1 - y0).abs(),
        }
    }

    /// Right edge.
    pub fn right(&self) -> f64 {
        self.x + self.width
    }

    /// Top edge.
    pub fn top(&self) -> f64 {
        self.y + self.height
    }

    /// The overlap of two rectangles (zero-sized when they do not meet).
    pub fn intersect(&self, other: &Rect) -> Rect {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = self.right().min(other.right()).max(x0);
        let y1 = self.top().min(other.top()).max(y0);
        Rect::from_corners(x0, y0, x1, y1)
    }
}

/// A page rotation, as `/Rotate` says, normalised to a quarter turn count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rotation {
    /// Upright.
    #[default]
    None,
    /// Shown turned 90° clockwise.
    Clockwise90,
    /// Shown upside down.
    Half,
    /// Shown turned 270° clockwise.
    Clockwise270,
}

impl Rotation {
    /// From a `/Rotate` value; anything that is not a multiple of 90 is treated as 0, as viewers do.
    pub fn from_degrees(degrees: i64) -> Self {
        match degrees.rem_euclid(360) {
            90 => Rotation::Clockwise90,
            180 => Rotation::Half,
            270 => Rotation::Clockwise270,
            _ => Rotation::None,
        }
    }

    /// The degrees, clockwise.
    pub fn degrees(self) -> i64 {
        match self {
            Rotation::None => 0,
            Rotation::Clockwise90 => 90,
            Rotation::Half => 180,
            Rotation::Clockwise270 => 270,
        }
    }

    /// The `/Matrix` of an appearance stream drawn upright on a page shown with this rotation:
    /// it turns the content the other way, so that the page rotation puts it back upright.
    pub fn counter_matrix(self) -> [f64; 6] {
        match self {
            Rotation::None => [1.0, 0.0, 0.0, 1.0, 0.0, 0.0],
            Rotation::Clockwise90 => [0.0, 1.0, -1.0, 0.0, 0.0, 0.0],
            Rotation::Half => [-1.0, 0.0, 0.0, -1.0, 0.0, 0.0],
            Rotation::Clockwise270 => [0.0, -1.0, 1.0, 0.0, 0.0, 0.0],
        }
    }
}

/// The visible area of one page and how it is shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageGeometry {
    /// The visible box in user space: CropBox clipped to MediaBox.
    pub visible: Rect,
    /// The page rotation.
    pub rotation: Rotation,
}

impl PageGeometry {
    /// Width of the page as displayed.
    pub fn display_width(&self) -> f64 {
        match self.rotation {
            Rotation::None | Rotation::Half => self.visible.width,
            Rotation::Clockwise90 | Rotation::Clockwise270 => self.visible.height,
        }
    }

    /// Height of the page as displayed.
    pub fn display_height(&self) -> f64 {
        match self.rotation {
            Rotation::None | Rotation::Half => self.visible.height,
            Rotation::Clockwise90 | Rotation::Clockwise270 => self.visible.width,
        }
    }

    /// Maps a point of the displayed page to user space.
    fn user_point(&self, x: f64, y: f64) -> (f64, f64) {
        let (w, h) = (self.visible.width, self.visible.height);
        let (u, v) = match self.rotation {
            Rotation::None => (x, y),
            Rotation::Clockwise90 => (w - y, x),
            Rotation::Half => (w - x, h - y),
            Rotation::Clockwise270 => (y, h - x),
        };
        (self.visible.x + u, self.visible.y + v)
    }

    /// Maps a rectangle of the displayed page to user space.
    pub fn to_user(&self, rect: &Rect) -> Rect {
        let (x0, y0) = self.user_point(rect.x, rect.y);
        let (x1, y1) = self.user_point(rect.right(), rect.top());
        Rect::from_corners(x0, y0, x1, y1)
    }

    /// Maps a rectangle in user space to the displayed page (the inverse of [`Self::to_user`]).
    pub fn to_display(&self, user: &Rect) -> Rect {
        let (w, h) = (self.visible.width, self.visible.height);
        let point = |ux: f64, uy: f64| -> (f64, f64) {
            let (u, v) = (ux - self.visible.x, uy - self.visible.y);
            match self.rotation {
                Rotation::None => (u, v),
                Rotation::Clockwise90 => (v, w - u),
                Rotation::Half => (w - u, h - v),
                Rotation::Clockwise270 => (h - v, u),
            }
        };
        let (x0, y0) = point(user.x, user.y);
        let (x1, y1) = point(user.right(), user.top());
        Rect::from_corners(x0, y0, x1, y1)
    }

    /// Whether a displayed rectangle lies on the page; a rounding tolerance of 0.01 pt is allowed.
    pub fn contains(&self, rect: &Rect) -> bool {
        const EPS: f64 = 0.01;
        rect.x >= -EPS
            && rect.y >= -EPS
            && rect.right() <= self.display_width() + EPS
            && rect.top() <= self.display_height() + EPS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(rotation: Rotation) -> PageGeometry {
        PageGeometry {
            visible: Rect::from_corners(100.0, 200.0, 700.0, 1000.0),
            rotation,
        }
    }

    #[test]
    fn unrotated_is_translation() {
        let user = page(Rotation::None).to_user(&Rect::from_corners(10.0, 20.0, 60.0, 50.0));
        assert_eq!(user, Rect::from_corners(110.0, 220.0, 160.0, 250.0));
    }

    #[test]
    fn rotated_corners_map_to_the_right_place() {
        // Displayed bottom-left corner of a page turned 90° clockwise is user bottom-right.
        let p = page(Rotation::Clockwise90);
        assert_eq!((p.display_width(), p.display_height()), (800.0, 600.0));
        let user = p.to_user(&Rect::from_corners(0.0, 0.0, 10.0, 20.0));
        assert_eq!(user, Rect::from_corners(680.0, 200.0, 700.0, 210.0));
        // A page turned 270° clockwise shows its user top-right corner at the displayed top-left.
        let p = page(Rotation::Clockwise270);
        let user = p.to_user(&Rect::from_corners(0.0, 590.0, 10.0, 600.0));
        assert_eq!(user, Rect::from_corners(690.0, 990.0, 700.0, 1000.0));
        let p = page(Rotation::Half);
        let user = p.to_user(&Rect::from_corners(0.0, 0.0, 10.0, 10.0));
        assert_eq!(user, Rect::from_corners(690.0, 990.0, 700.0, 1000.0));
    }

    proptest::proptest! {
        #[test]
        fn mapped_rects_stay_inside_the_visible_box(
            rot in 0i64..4, x in 0.0f64..500.0, y in 0.0f64..500.0, w in 1.0f64..100.0, h in 1.0f64..100.0
        ) {
            let p = page(Rotation::from_degrees(rot * 90));
            let r = Rect { x, y, width: w, height: h };
            let user = p.to_user(&r);
            proptest::prop_assert!((user.width * user.height - w * h).abs() < 1e-6);
            let back = p.to_display(&user);
            proptest::prop_assert!((back.x - r.x).abs() < 1e-6 && (back.y - r.y).abs() < 1e-6);
            proptest::prop_assert!((back.width - w).abs() < 1e-6 && (back.height - h).abs() < 1e-6);
            if p.contains(&r) {
                let inside = p.visible.intersect(&user);
                proptest::prop_assert!((inside.width * inside.height - w * h).abs() < 1e-6);
            }
        }
    }
}
