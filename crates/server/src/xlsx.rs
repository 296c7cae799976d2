//! Reading the internal tree from an XLSX sheet (calamine). The first sheet's header row
//! names the columns, in Chinese as the seeds' templates do or in English:
//! 部门编码/code, 部门名称/name, 上级部门编码/parent_code.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};

/// Most rows one import takes.
const MAX_ROWS: usize = 10_000;

/// (code, name, parent code) per row, or what is wrong, with the row number.
pub fn read_tree(bytes: &[u8]) -> Result<Vec<(String, String, Option<String>)>, String> {
    let mut workbook: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| format!("not an XLSX workbook: {e}"))?;
    let range = workbook
        .worksheet_range_at(0)
        .ok_or("the workbook has no sheet")?
        .map_err(|e| format!("the first sheet cannot be read: {e}"))?;
    let mut rows = range.rows();
    let header = rows.next().ok_or("the sheet is empty")?;
    let column = |names: &[&str]| {
        header.iter().position(|cell| {
            let text = cell_text(cell);
            names.iter().any(|n| text.eq_ignore_ascii_case(n))
        })
    };
    let code = column(&["部门编码", "code"]).ok_or("no column 部门编码 (code)")?;
    let name = column(&["部门名称", "name"]).ok_or("no column 部门名称 (name)")?;
    let parent = column(&["上级部门编码", "parent_code"]);
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (index, row) in rows.enumerate() {
        let line = index + 2;
        let get = |i: usize| row.get(i).map(cell_text).unwrap_or_default();
        let (c, n) = (get(code), get(name));
        if c.is_empty() && n.is_empty() {
            continue;
        }
        if c.is_empty() || n.is_empty() {
            return Err(format!("row {line}: both 部门编码 and 部门名称 are needed"));
        }
        if c.chars().count() > 64 {
            return Err(format!("row {line}: the code is longer than 64 characters"));
        }
        qz_domain::org::check_org_name(&n).map_err(|e| format!("row {line}: {e}"))?;
        if !seen.insert(c.clone()) {
            return Err(format!("row {line}: code {c} appears twice"));
        }
        let p = parent.map(get).filter(|p| !p.is_empty());
        out.push((c, n, p));
        if out.len() > MAX_ROWS {
            return Err(format!("more than {MAX_ROWS} rows; split the import"));
        }
    }
    if out.is_empty() {
        return Err("the sheet has no data rows".into());
    }
    Ok(out)
}

fn cell_text(cell: &Data) -> String {
    match cell {
        Data::String(s) => s.trim().to_owned(),
        // Codes typed as numbers come back as floats: 1001 not 1001.0.
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Empty => String::new(),
        other => other.to_string().trim().to_owned(),
    }
}
