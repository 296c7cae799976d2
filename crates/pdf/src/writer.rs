//! The appended revision: object bodies, then a cross-reference section and trailer that chain
//! to the previous one with `/Prev`.
//!
//! lopdf's `IncrementalDocument` can do this too, but it re-serializes the objects it copies
//! (see [`crate::raw`] for why that breaks validators) and gives no control over where the
//! signature placeholder lands. The format is small: ISO 32000-1 7.5.6 (incremental updates),
//! 7.5.4 (xref tables) and 7.5.8 (xref streams).

use std::io::Write as _;

use lopdf::{Dictionary, Object, StringFormat, Writer};

use crate::document::Document;
use crate::error::PdfError;

/// One object of the update, already serialized (the body between `obj` and `endobj`).
#[derive(Debug)]
struct Body {
    id: u32,
    generation: u16,
    bytes: Vec<u8>,
}

/// The written update: its bytes and, per object number, where the object starts in the file.
#[derive(Debug)]
pub(crate) struct Appended {
    pub(crate) tail: Vec<u8>,
    pub(crate) positions: Vec<(u32, usize)>,
}

/// Collects the objects of one incremental update.
#[derive(Debug)]
pub(crate) struct Update {
    next_id: u32,
    bodies: Vec<Body>,
}

/// Serializes a lopdf object to PDF syntax.
pub(crate) fn serialize(object: &Object) -> Result<Vec<u8>, PdfError> {
    let mut out = Vec::new();
    Writer::write_object(&mut out, object).map_err(|e| PdfError::Write(e.to_string()))?;
    Ok(out)
}

/// A PDF number without exponent and with at most 4 decimals (enough for points).
pub(crate) fn num(value: f64) -> String {
    let rounded = (value * 10_000.0).round() / 10_000.0;
    if rounded == rounded.trunc() && rounded.abs() < 1e15 {
        format!("{}", rounded as i64)
    } else {
        let text = format!("{rounded:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

impl Update {
    pub(crate) fn new(document: &Document<'_>) -> Self {
        Update {
            next_id: document.next_id,
            bodies: Vec::new(),
        }
    }

    /// Reserves a new object number.
    pub(crate) fn allocate(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Adds an object body written by the caller.
    pub(crate) fn put_raw(&mut self, id: u32, generation: u16, bytes: Vec<u8>) {
        self.bodies.push(Body {
            id,
            generation,
            bytes,
        });
    }

    /// Adds a lopdf object.
    pub(crate) fn put(&mut self, id: u32, object: &Object) -> Result<(), PdfError> {
        let bytes = serialize(object)?;
        self.put_raw(id, 0, bytes);
        Ok(())
    }

    /// Allocates a number for `object` and adds it.
    pub(crate) fn add(&mut self, object: &Object) -> Result<u32, PdfError> {
        let id = self.allocate();
        self.put(id, object)?;
        Ok(id)
    }

    /// Writes the update: bodies, xref and trailer, to be appended to `document`'s bytes.
    pub(crate) fn finish(mut self, document: &Document<'_>) -> Result<Appended, PdfError> {
        let base = document.bytes.len();
        let mut tail =
            Vec::with_capacity(self.bodies.iter().map(|b| b.bytes.len() + 32).sum::<usize>() + 512);
        // The previous revision may end without an end-of-line after %%EOF.
        if !document.bytes.ends_with(b"\n") && !document.bytes.ends_with(b"\r") {
            tail.push(b'\n');
        }
        let mut offsets: Vec<(u32, u16, usize)> = Vec::with_capacity(self.bodies.len() + 1);
        for body in &self.bodies {
            offsets.push((body.id, body.generation, base + tail.len()));
            write_frame(&mut tail, body)?;
        }
        let trailer = trailer_entries(document, self.next_id + u32::from(document.xref_stream))?;
        if document.xref_stream {
            let xref_id = self.allocate();
            let xref_offset = base + tail.len();
            offsets.push((xref_id, 0, xref_offset));
            let stream = xref_stream(&offsets, trailer, document.prev_xref)?;
            write_frame(
                &mut tail,
                &Body {
                    id: xref_id,
                    generation: 0,
                    bytes: stream,
                },
            )?;
            write!(tail, "startxref\n{xref_offset}\n%%EOF\n").map_err(io_error)?;
        } else {
            let xref_offset = base + tail.len();
            write_xref_table(&mut tail, &offsets)?;
            let mut trailer = trailer;
            trailer.set("Prev", Object::Integer(document.prev_xref as i64));
            tail.extend_from_slice(b"trailer\n");
            tail.extend_from_slice(&serialize(&Object::Dictionary(trailer))?);
            write!(tail, "\nstartxref\n{xref_offset}\n%%EOF\n").map_err(io_error)?;
        }
        let positions = offsets.iter().map(|(id, _, at)| (*id, *at)).collect();
        Ok(Appended { tail, positions })
    }
}

fn io_error(err: std::io::Error) -> PdfError {
    PdfError::Write(err.to_string())
}

fn write_frame(out: &mut Vec<u8>, body: &Body) -> Result<(), PdfError> {
    writeln!(out, "{} {} obj", body.id, body.generation).map_err(io_error)?;
    out.extend_from_slice(&body.bytes);
    out.extend_from_slice(b"\nendobj\n");
    Ok(())
}

/// The trailer keys carried over from the previous revision, with the new `/Size`.
fn trailer_entries(document: &Document<'_>, size: u32) -> Result<Dictionary, PdfError> {
    let previous = &document.doc.trailer;
    let mut trailer = Dictionary::new();
    let prev_size = previous.get(b"Size").and_then(Object::as_i64).unwrap_or(0);
    trailer.set("Size", Object::Integer(prev_size.max(i64::from(size))));
    let root = previous
        .get(b"Root")
        .map_err(|_| PdfError::Malformed("the trailer has no /Root".into()))?;
    trailer.set("Root", root.clone());
    if let Ok(info) = previous.get(b"Info") {
        trailer.set("Info", info.clone());
    }
    if let Ok(Object::Array(ids)) = previous.get(b"ID") {
        let ids = ids
            .iter()
            .map(|id| match id {
                Object::String(bytes, _) => Object::String(bytes.clone(), StringFormat::Hexadecimal),
                other => other.clone(),
            })
            .collect();
        trailer.set("ID", Object::Array(ids));
    }
    Ok(trailer)
}

/// Groups sorted object numbers into contiguous runs: (first, count).
fn subsections(ids: &[u32]) -> Vec<(u32, u32)> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &id in ids {
        match runs.last_mut() {
            Some((first, count)) if *first + *count == id => *count += 1,
            _ => runs.push((id, 1)),
        }
    }
    runs
}

fn write_xref_table(out: &mut Vec<u8>, offsets: &[(u32, u16, usize)]) -> Result<(), PdfError> {
    let mut sorted = offsets.to_vec();
    sorted.sort_by_key(|(id, _, _)| *id);
    let ids: Vec<u32> = sorted.iter().map(|(id, _, _)| *id).collect();
    out.extend_from_slice(b"xref\n");
    let mut rows = sorted.iter();
    for (first, count) in subsections(&ids) {
        writeln!(out, "{first} {count}").map_err(io_error)?;
        for (_, generation, offset) in rows.by_ref().take(count as usize) {
            // Each entry is exactly 20 bytes, ending in CR LF (ISO 32000-1 7.5.4).
            write!(out, "{offset:010} {generation:05} n\r\n").map_err(io_error)?;
        }
    }
    Ok(())
}

fn xref_stream(
    offsets: &[(u32, u16, usize)],
    mut dict: Dictionary,
    prev: usize,
) -> Result<Vec<u8>, PdfError> {
    let mut sorted = offsets.to_vec();
    sorted.sort_by_key(|(id, _, _)| *id);
    let ids: Vec<u32> = sorted.iter().map(|(id, _, _)| *id).collect();
    let max_offset = sorted.iter().map(|(_, _, o)| *o).max().unwrap_or(0);
    let width = (usize::BITS - max_offset.leading_zeros()).div_ceil(8).max(1) as usize;
    let mut data = Vec::with_capacity(sorted.len() * (width + 3));
    for (_, generation, offset) in &sorted {
        data.push(1u8);
        data.extend_from_slice(&offset.to_be_bytes()[std::mem::size_of::<usize>() - width..]);
        data.extend_from_slice(&generation.to_be_bytes());
    }
    let index: Vec<Object> = subsections(&ids)
        .into_iter()
        .flat_map(|(first, count)| [Object::Integer(first.into()), Object::Integer(count.into())])
        .collect();
    dict.set("Type", Object::Name(b"XRef".to_vec()));
    dict.set("Index", Object::Array(index));
    dict.set(
        "W",
        Object::Array(vec![
            Object::Integer(1),
            Object::Integer(width as i64),
            Object::Integer(2),
        ]),
    );
    dict.set("Prev", Object::Integer(prev as i64));
    dict.set("Length", Object::Integer(data.len() as i64));
    let mut out = serialize(&Object::Dictionary(dict))?;
    out.extend_from_slice(b"\nstream\n");
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\nendstream");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs() {
        assert_eq!(subsections(&[3, 4, 5, 9, 11, 12]), vec![(3, 3), (9, 1), (11, 2)]);
        assert!(subsections(&[]).is_empty());
    }

    #[test]
    fn numbers() {
        assert_eq!(num(12.0), "12");
        assert_eq!(num(-0.5), "-0.5");
        assert_eq!(num(595.275_59), "595.2756");
        assert_eq!(num(1e-9), "0");
    }
}
