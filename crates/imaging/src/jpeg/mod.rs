//! A JPEG decoder that decodes straight to 1/1, 1/2, 1/4 or 1/8 of the
//! stored size (libjpeg's `scale_denom`, libvips' shrink-on-load).
//!
//! Why our own: a thumbnail of a 20-megapixel photo needs about 1/64 of
//! its samples. With DCT scaling each 8x8 block becomes an `n` x `n` block
//! (see `idct`), so the full-size image is never materialised: memory and
//! IDCT work drop by 64x at 1/8. On top of that, coefficients the chosen
//! scale cannot use are never stored, and whole progressive scans that
//! carry only such coefficients are skipped without entropy decoding: at
//! 1/8 a progressive JPEG is decoded from its DC scans alone, a few percent
//! of the file. The `image` crate's decoder (zune-jpeg) always decodes
//! every coefficient at full size.
//!
//! Supported: baseline and extended sequential (SOF0/SOF1) and progressive
//! (SOF2) Huffman-coded 8-bit JPEGs with 1 (gray), 3 (YCbCr or RGB) or 4
//! (CMYK or YCCK) components, any sampling factors, restart intervals.
//! Not supported (typed error): arithmetic coding, lossless, hierarchical
//! and 12-bit JPEGs, which cameras and browsers do not produce.
//!
//! Chroma is upsampled by replication (box), which is exact at the block
//! level and, before the resize to thumbnail size, indistinguishable from
//! libjpeg's "fancy" triangle upsampling.

pub(crate) mod encode;
mod huffman;
mod idct;

use huffman::{BitReader, HuffTable};
use idct::{to_sample, Idct};

/// Natural (row-major) index of each zigzag position.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Samples per block side (n) for each `max_k` this decoder uses: the
/// corner an AC coefficient must lie in to count.
const NATURAL_LIMIT: [usize; 64] = {
    let mut t = [8usize; 64];
    t[0] = 1;
    t[4] = 2;
    t[24] = 4;
    t
};

/// A scan that decodes this many made-up bytes past its real data is
/// corrupt: give up instead of decoding a picture of zeros.
const MAX_FAKE_BYTES: usize = 4096;

/// Most scans a progressive image may have. Every scan walks every block
/// of its components, and a scan that only codes end-of-band runs costs a
/// few bytes, so without a cap a 32 KB file of repeated scans keeps a
/// decoder busy for seconds (`tests/fixtures/fuzz/jpeg_decode/`). 100
/// is zune-jpeg's default, which the full-size path (through `image`)
/// already applies, so every decode scale accepts the same files; real
/// encoders write about 10. Sequential scans need real data for every
/// block, so they are bounded by the input size instead.
const MAX_PROGRESSIVE_SCANS: usize = 100;

/// Decoded samples, interleaved, of the reduced size.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JpegPixels {
    /// One channel.
    Gray(Vec<u8>),
    /// Three channels, sRGB-ish as stored (ICC applied by the caller).
    Rgb(Vec<u8>),
    /// Four channels in the Adobe convention (inverted: 255 = no ink), as
    /// Photoshop and libjpeg write them; YCCK is already turned into this.
    InvertedCmyk(Vec<u8>),
}

/// A decoded (possibly reduced) image.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JpegImage {
    pub width: u32,
    pub height: u32,
    pub pixels: JpegPixels,
}

/// What the frame header says, for choosing a scale and budgeting memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameInfo {
    pub width: u32,
    pub height: u32,
    pub components: usize,
    pub progressive: bool,
    /// 8x8 blocks over all components, padded to whole MCUs.
    pub blocks: u64,
}

impl FrameInfo {
    /// Bytes a decode at `1/denom` allocates at most: the reduced
    /// component planes, the coefficient store of a progressive image and
    /// the interleaved output.
    pub(crate) fn decode_bytes(&self, denom: u32) -> u64 {
        let n = u64::from(8 / denom.clamp(1, 8));
        let planes = self.blocks * n * n;
        let coefs = match (self.progressive, n) {
            (false, _) => 0,
            (true, 1) => self.blocks * 2,
            (true, _) => self.blocks * 64 * 2,
        };
        let d = u64::from(denom.max(1));
        let out = u64::from(self.width).div_ceil(d)
            * u64::from(self.height).div_ceil(d)
            * (self.components as u64).max(1);
        planes + coefs + out
    }
}

#[derive(Clone)]
struct Component {
    id: u8,
    h: usize,
    v: usize,
    tq: usize,
    /// Blocks per row and column, padded to whole MCUs.
    bw: usize,
    bh: usize,
    /// Blocks that carry image data (what a single-component scan codes).
    cbw: usize,
    cbh: usize,
}

struct Frame {
    width: usize,
    height: usize,
    progressive: bool,
    comps: Vec<Component>,
    hmax: usize,
    vmax: usize,
    mcux: usize,
    mcuy: usize,
}

/// One component's part in a scan.
struct ScanComp {
    index: usize,
    dc: usize,
    ac: usize,
}

struct Scan {
    comps: Vec<ScanComp>,
    ss: usize,
    se: usize,
    ah: u32,
    al: u32,
}

/// Tables that scans refer to; separate from the per-component buffers
/// so both can be borrowed at once.
struct Tables {
    quant: [Option<[u16; 64]>; 4],
    dc: [Option<HuffTable>; 4],
    ac: [Option<HuffTable>; 4],
    restart_interval: usize,
}

/// Per-component output of the decode.
struct Buffers {
    /// Reduced samples, `bw * n` wide (baseline: written while decoding;
    /// progressive: written at the end from `coefs`).
    planes: Vec<Vec<u8>>,
    /// Progressive only: coefficients per block in zigzag order, `stride`
    /// per block (1 when only DC is needed, else 64).
    coefs: Vec<Vec<i16>>,
    /// Progressive with AC: per block, a bit per zigzag position whose
    /// coefficient is non-zero, so refinement scans visit only those
    /// instead of testing all 63 (most blocks are mostly zeros).
    nonzero: Vec<Vec<u64>>,
    stride: usize,
}

type Result<T> = std::result::Result<T, String>;

/// What the headers before the first scan say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    /// The frame header.
    pub frame: FrameInfo,
    /// EXIF orientation from the first APP1 `Exif` segment (1 when absent
    /// or unreadable: a broken tag must not cost the whole image).
    pub orientation: u8,
    /// The embedded ICC profile (APP2 `ICC_PROFILE` chunks, in order).
    pub icc: Option<Vec<u8>>,
}

/// Reads the headers up to the first scan: frame, EXIF orientation, ICC
/// profile. Touches no entropy-coded data.
pub(crate) fn header(data: &[u8]) -> Result<Header> {
    let mut pos = check_soi(data)?;
    let mut orientation = None;
    let mut icc_chunks: Vec<(u8, &[u8])> = Vec::new();
    let mut frame = None;
    loop {
        let (marker, seg_start, seg_end) = next_segment(data, pos)?;
        let seg = &data[seg_start..seg_end];
        match marker {
            0xC0..=0xC2 => {
                let f = parse_frame(seg, marker == 0xC2)?;
                let blocks = f.comps.iter().map(|c| (c.bw * c.bh) as u64).sum();
                frame = Some(FrameInfo {
                    width: f.width as u32,
                    height: f.height as u32,
                    components: f.comps.len(),
                    progressive: f.progressive,
                    blocks,
                });
            }
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(unsupported_sof(marker));
            }
            0xE1 if orientation.is_none() => {
                if let Some(tiff) = seg.strip_prefix(b"Exif\0\0") {
                    orientation = Some(
                        image::metadata::Orientation::from_exif_chunk(tiff)
                            .map_or(1, |o| o.to_exif()),
                    );
                }
            }
            0xE2 => {
                if let Some(rest) = seg.strip_prefix(b"ICC_PROFILE\0") {
                    if let (Some(&seq), Some(chunk)) = (rest.first(), rest.get(2..)) {
                        icc_chunks.push((seq, chunk));
                    }
                }
            }
            0xDA | 0xD9 => break,
            _ => {}
        }
        pos = seg_end;
    }
    let frame = frame.ok_or("no frame header before the image data")?;
    icc_chunks.sort_by_key(|(seq, _)| *seq);
    let icc = (!icc_chunks.is_empty()).then(|| {
        icc_chunks
            .iter()
            .flat_map(|(_, c)| c.iter().copied())
            .collect()
    });
    Ok(Header {
        frame,
        orientation: orientation.unwrap_or(1),
        icc,
    })
}

/// Decodes `data` at `1/denom` of its size (denom 1, 2, 4 or 8); the
/// result is `ceil(width / denom)` x `ceil(height / denom)`.
pub(crate) fn decode(data: &[u8], denom: u32) -> Result<JpegImage> {
    let n = match denom {
        1 => 8,
        2 => 4,
        4 => 2,
        8 => 1,
        other => return Err(format!("unsupported scale 1/{other}")),
    };
    // Highest zigzag position inside the n x n corner.
    let max_k = (0..64)
        .filter(|&k| ZIGZAG[k] % 8 < n && ZIGZAG[k] / 8 < n)
        .max()
        .unwrap_or(0);
    let mut tables = Tables {
        quant: [None; 4],
        dc: [None, None, None, None],
        ac: [None, None, None, None],
        restart_interval: 0,
    };
    let mut frame: Option<Frame> = None;
    let mut buffers: Option<Buffers> = None;
    let mut adobe: Option<u8> = None;
    let mut jfif = false;
    let mut scans = 0usize;
    let idct = Idct::new(n);
    let mut pos = check_soi(data)?;
    loop {
        let (marker, seg_start, seg_end) = match next_segment(data, pos) {
            Ok(found) => found,
            // Some encoders end without EOI; keep what was decoded.
            Err(_) if scans > 0 => break,
            Err(e) => return Err(e),
        };
        let seg = &data[seg_start..seg_end];
        pos = seg_end;
        match marker {
            0xD9 => break,
            0xC0..=0xC2 => {
                if frame.is_some() {
                    return Err("more than one frame header".to_owned());
                }
                let f = parse_frame(seg, marker == 0xC2)?;
                let stride = if n == 1 { 1 } else { 64 };
                buffers = Some(Buffers {
                    planes: if f.progressive {
                        Vec::new()
                    } else {
                        f.comps
                            .iter()
                            .map(|c| vec![0u8; c.bw * n * c.bh * n])
                            .collect()
                    },
                    coefs: if f.progressive {
                        f.comps
                            .iter()
                            .map(|c| vec![0i16; c.bw * c.bh * stride])
                            .collect()
                    } else {
                        Vec::new()
                    },
                    nonzero: if f.progressive && stride == 64 {
                        f.comps.iter().map(|c| vec![0u64; c.bw * c.bh]).collect()
                    } else {
                        Vec::new()
                    },
                    stride,
                });
                frame = Some(f);
            }
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return Err(unsupported_sof(marker)),
            0xC4 => parse_dht(seg, &mut tables)?,
            0xDB => parse_dqt(seg, &mut tables)?,
            0xDD => {
                let ri = seg.get(0..2).ok_or("short DRI segment")?;
                tables.restart_interval = usize::from(u16::from_be_bytes([ri[0], ri[1]]));
            }
            0xE0 => jfif |= seg.starts_with(b"JFIF\0"),
            0xEE if seg.starts_with(b"Adobe") => {
                adobe = seg.get(11).copied().or(Some(0));
            }
            0xDA => {
                let (Some(f), Some(buf)) = (frame.as_ref(), buffers.as_mut()) else {
                    return Err("image data before the frame header".to_owned());
                };
                let scan = parse_sos(seg, f)?;
                scans += 1;
                if f.progressive && scans > MAX_PROGRESSIVE_SCANS {
                    return Err(format!(
                        "more than {MAX_PROGRESSIVE_SCANS} progressive scans (real encoders write about 10; each scan re-reads every block)"
                    ));
                }
                // At 1/8 only DC is used, and no later scan needs AC
                // history: skip AC scans unread. (At other scales an AC
                // band above the needed corner can still be refined by a
                // later scan that straddles it, so everything is decoded.)
                let needed = !f.progressive || scan.ss == 0 || max_k > 0;
                pos = if needed {
                    decode_scan(data, seg_end, f, &scan, &tables, buf, &idct, max_k)?
                } else {
                    seg_end
                };
                pos = next_marker(data, pos);
            }
            _ => {}
        }
    }
    let (Some(f), Some(mut buf)) = (frame, buffers) else {
        return Err("no frame header".to_owned());
    };
    if scans == 0 {
        return Err("no image data (no start-of-scan)".to_owned());
    }
    if f.progressive {
        finish_progressive(&f, &tables, &mut buf, &idct, n, max_k)?;
    }
    Ok(convert(&f, &buf.planes, n, denom, adobe, jfif))
}

fn check_soi(data: &[u8]) -> Result<usize> {
    if data.get(0..2) == Some(&[0xFF, 0xD8]) {
        Ok(2)
    } else {
        Err("not a JPEG (no start-of-image marker)".to_owned())
    }
}

fn unsupported_sof(marker: u8) -> String {
    let kind = match marker {
        0xC3 | 0xC7 | 0xCB | 0xCF => "lossless",
        0xC9..=0xCB | 0xCD..=0xCF => "arithmetic-coded",
        _ => "hierarchical",
    };
    format!("unsupported JPEG variant: {kind} (SOF marker 0x{marker:02X}); only baseline and progressive Huffman JPEGs are decoded")
}

/// Finds the next marker at or after `pos` and returns it with its
/// segment's bounds (empty for markers without a length).
fn next_segment(data: &[u8], mut pos: usize) -> Result<(u8, usize, usize)> {
    // Skip anything up to an 0xFF (decoders tolerate stray bytes), then fill bytes.
    loop {
        match data.get(pos) {
            None => return Err("truncated: no end-of-image marker".to_owned()),
            Some(0xFF) => break,
            Some(_) => pos += 1,
        }
    }
    while data.get(pos + 1) == Some(&0xFF) {
        pos += 1;
    }
    let marker = *data.get(pos + 1).ok_or("truncated inside a marker")?;
    match marker {
        0xD8 | 0xD9 | 0xD0..=0xD7 | 0x01 | 0x00 => Ok((marker, pos + 2, pos + 2)),
        _ => {
            let len = data
                .get(pos + 2..pos + 4)
                .ok_or("truncated marker segment")?;
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            if len < 2 {
                return Err(format!("marker 0x{marker:02X} has a bad length {len}"));
            }
            let end = pos + 2 + len;
            if end > data.len() {
                return Err(format!(
                    "truncated: marker 0x{marker:02X} segment runs past the end of the file"
                ));
            }
            Ok((marker, pos + 4, end))
        }
    }
}

/// Position of the next marker that ends entropy-coded data (not a
/// stuffed `FF 00`, not a restart marker), or the end of `data`.
fn next_marker(data: &[u8], mut pos: usize) -> usize {
    while let Some(offset) = data
        .get(pos..)
        .and_then(|d| d.iter().position(|&b| b == 0xFF))
    {
        pos += offset;
        match data.get(pos + 1) {
            Some(0x00) | Some(0xD0..=0xD7) => pos += 2,
            Some(0xFF) => pos += 1,
            Some(_) => return pos,
            None => return data.len(),
        }
    }
    data.len()
}

fn parse_frame(seg: &[u8], progressive: bool) -> Result<Frame> {
    let head = seg.get(0..6).ok_or("short frame header")?;
    if head[0] != 8 {
        return Err(format!(
            "unsupported JPEG variant: {}-bit samples; only 8-bit JPEGs are decoded",
            head[0]
        ));
    }
    let height = usize::from(u16::from_be_bytes([head[1], head[2]]));
    let width = usize::from(u16::from_be_bytes([head[3], head[4]]));
    let count = usize::from(head[5]);
    if width == 0 || height == 0 {
        return Err(format!(
            "frame header says {width}x{height} (a zero height needs a DNL marker, which is not supported)"
        ));
    }
    if !matches!(count, 1 | 3 | 4) {
        return Err(format!(
            "unsupported JPEG variant: {count} colour components"
        ));
    }
    let specs = seg.get(6..6 + 3 * count).ok_or("short frame header")?;
    let mut comps = Vec::with_capacity(count);
    for spec in specs.chunks_exact(3) {
        let (h, v) = (usize::from(spec[1] >> 4), usize::from(spec[1] & 15));
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) || spec[2] > 3 {
            return Err(format!(
                "bad component in frame header (sampling {h}x{v}, table {})",
                spec[2]
            ));
        }
        comps.push(Component {
            id: spec[0],
            h,
            v,
            tq: usize::from(spec[2]),
            bw: 0,
            bh: 0,
            cbw: 0,
            cbh: 0,
        });
    }
    let hmax = comps.iter().map(|c| c.h).max().unwrap_or(1);
    let vmax = comps.iter().map(|c| c.v).max().unwrap_or(1);
    let mcux = width.div_ceil(8 * hmax);
    let mcuy = height.div_ceil(8 * vmax);
    for c in &mut comps {
        c.bw = mcux * c.h;
        c.bh = mcuy * c.v;
        c.cbw = (width * c.h).div_ceil(hmax).div_ceil(8);
        c.cbh = (height * c.v).div_ceil(vmax).div_ceil(8);
    }
    Ok(Frame {
        width,
        height,
        progressive,
        comps,
        hmax,
        vmax,
        mcux,
        mcuy,
    })
}

fn parse_dht(mut seg: &[u8], tables: &mut Tables) -> Result<()> {
    while !seg.is_empty() {
        let class = seg[0] >> 4;
        let id = usize::from(seg[0] & 15);
        let counts: [u8; 16] = seg
            .get(1..17)
            .and_then(|c| c.try_into().ok())
            .ok_or("short DHT segment")?;
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        let values = seg.get(17..17 + total).ok_or("short DHT segment")?;
        let table = HuffTable::new(&counts, values).ok_or("invalid Huffman table")?;
        match (class, id) {
            (0, 0..=3) => tables.dc[id] = Some(table),
            (1, 0..=3) => tables.ac[id] = Some(table),
            _ => return Err(format!("bad Huffman table class/id {class}/{id}")),
        }
        seg = &seg[17 + total..];
    }
    Ok(())
}

fn parse_dqt(mut seg: &[u8], tables: &mut Tables) -> Result<()> {
    while !seg.is_empty() {
        let precision = seg[0] >> 4;
        let id = usize::from(seg[0] & 15);
        if id > 3 {
            return Err(format!("bad quantization table id {id}"));
        }
        let mut q = [0u16; 64];
        let used = if precision == 0 {
            let vals = seg.get(1..65).ok_or("short DQT segment")?;
            for (dst, &v) in q.iter_mut().zip(vals) {
                *dst = u16::from(v);
            }
            65
        } else {
            let vals = seg.get(1..129).ok_or("short DQT segment")?;
            for (dst, v) in q.iter_mut().zip(vals.chunks_exact(2)) {
                *dst = u16::from_be_bytes([v[0], v[1]]);
            }
            129
        };
        tables.quant[id] = Some(q);
        seg = &seg[used..];
    }
    Ok(())
}

fn parse_sos(seg: &[u8], frame: &Frame) -> Result<Scan> {
    let count = usize::from(*seg.first().ok_or("short scan header")?);
    if !(1..=4).contains(&count) {
        return Err(format!("scan with {count} components"));
    }
    let specs = seg.get(1..1 + 2 * count).ok_or("short scan header")?;
    let mut comps = Vec::with_capacity(count);
    for spec in specs.chunks_exact(2) {
        let index = frame
            .comps
            .iter()
            .position(|c| c.id == spec[0])
            .ok_or_else(|| format!("scan refers to unknown component {}", spec[0]))?;
        comps.push(ScanComp {
            index,
            dc: usize::from(spec[1] >> 4).min(3),
            ac: usize::from(spec[1] & 15).min(3),
        });
    }
    let tail = seg
        .get(1 + 2 * count..4 + 2 * count)
        .ok_or("short scan header")?;
    let (ss, se) = (usize::from(tail[0]), usize::from(tail[1]));
    let (ah, al) = (u32::from(tail[2] >> 4), u32::from(tail[2] & 15));
    if frame.progressive {
        let dc_ok = ss == 0 && se == 0;
        let ac_ok = ss >= 1 && se >= ss && se <= 63 && count == 1;
        if !(dc_ok || ac_ok) || al > 13 {
            return Err(format!(
                "bad progressive scan (spectral {ss}..{se}, {count} components)"
            ));
        }
    }
    if count > 1 {
        let units: usize = comps
            .iter()
            .map(|c| frame.comps[c.index].h * frame.comps[c.index].v)
            .sum();
        if units > 10 {
            return Err(format!("scan has {units} blocks per MCU (at most 10)"));
        }
    }
    Ok(Scan {
        comps,
        ss,
        se: if frame.progressive { se } else { 63 },
        ah,
        al,
    })
}

/// What one block decode needs besides the reader.
struct BlockCtx<'t> {
    dc: Option<&'t HuffTable>,
    ac: Option<&'t HuffTable>,
    quant: &'t [u16; 64],
}

#[allow(clippy::too_many_arguments)]
fn decode_scan(
    data: &[u8],
    start: usize,
    frame: &Frame,
    scan: &Scan,
    tables: &Tables,
    buf: &mut Buffers,
    idct: &Idct,
    max_k: usize,
) -> Result<usize> {
    let mut reader = BitReader::new(data, start);
    let mut ctx = Vec::with_capacity(scan.comps.len());
    for sc in &scan.comps {
        let comp = &frame.comps[sc.index];
        let needs_dc = !frame.progressive || (scan.ss == 0 && scan.ah == 0);
        let needs_ac = !frame.progressive || scan.ss > 0;
        let dc = tables.dc[sc.dc].as_ref();
        let ac = tables.ac[sc.ac].as_ref();
        if (needs_dc && dc.is_none()) || (needs_ac && ac.is_none()) {
            return Err("scan uses an undefined Huffman table".to_owned());
        }
        let quant = tables.quant[comp.tq]
            .as_ref()
            .ok_or("component uses an undefined quantization table")?;
        ctx.push(BlockCtx { dc, ac, quant });
    }
    let mut preds = [0i32; 4];
    let mut eobrun = 0u32;
    let ri = tables.restart_interval;
    let n = idct.n();
    let mut coefs = [0f32; 64];

    // Units: MCUs of an interleaved scan, blocks of a single-component one.
    let (units_x, units_y) = if scan.comps.len() == 1 {
        let c = &frame.comps[scan.comps[0].index];
        (c.cbw, c.cbh)
    } else {
        (frame.mcux, frame.mcuy)
    };
    let total = units_x * units_y;
    for unit in 0..total {
        if ri > 0 && unit > 0 && unit % ri == 0 {
            reader.restart();
            preds = [0; 4];
            eobrun = 0;
        }
        let (ux, uy) = (unit % units_x, unit / units_x);
        for (ci, sc) in scan.comps.iter().enumerate() {
            let comp = &frame.comps[sc.index];
            let (bh, bv) = if scan.comps.len() == 1 {
                (1, 1)
            } else {
                (comp.h, comp.v)
            };
            for v in 0..bv {
                for h in 0..bh {
                    let (bx, by) = if scan.comps.len() == 1 {
                        (ux, uy)
                    } else {
                        (ux * comp.h + h, uy * comp.v + v)
                    };
                    let c = &ctx[ci];
                    if frame.progressive {
                        let stride = buf.stride;
                        let block_index = (by * comp.bw + bx) * stride;
                        let Some(block) =
                            buf.coefs[sc.index].get_mut(block_index..block_index + stride)
                        else {
                            return Err("block outside the image".to_owned());
                        };
                        let mut unused = 0u64;
                        let nz = buf
                            .nonzero
                            .get_mut(sc.index)
                            .and_then(|v| v.get_mut(by * comp.bw + bx))
                            .unwrap_or(&mut unused);
                        decode_progressive(
                            &mut reader,
                            c,
                            scan,
                            block,
                            nz,
                            &mut preds[ci],
                            &mut eobrun,
                        )?;
                    } else {
                        let ac =
                            decode_baseline(&mut reader, c, &mut preds[ci], &mut coefs, max_k)?;
                        let stride = comp.bw * n;
                        let offset = by * n * stride + bx * n;
                        idct.run(&coefs, ac, &mut buf.planes[sc.index], offset, stride);
                    }
                }
            }
        }
        if reader.fake_bytes() > MAX_FAKE_BYTES {
            return Err("truncated or corrupt image data (scan ends early)".to_owned());
        }
    }
    Ok(reader.position())
}

/// Decodes one sequential block into dequantized natural-order
/// coefficients, keeping only zigzag positions up to `max_k` (the others
/// are decoded but not stored). Returns whether a kept AC coefficient is
/// non-zero.
#[inline]
fn decode_baseline(
    r: &mut BitReader<'_>,
    c: &BlockCtx<'_>,
    pred: &mut i32,
    out: &mut [f32; 64],
    max_k: usize,
) -> Result<bool> {
    let (Some(dc), Some(ac)) = (c.dc, c.ac) else {
        return Err("missing Huffman table".to_owned());
    };
    let s = r.decode(dc).ok_or("bad Huffman code")?;
    if s > 16 {
        return Err("bad DC magnitude".to_owned());
    }
    *pred = pred.wrapping_add(r.receive_extend(u32::from(s)));
    if max_k == 0 {
        out[0] = (*pred as f32) * f32::from(c.quant[0]);
        // Skip the AC coefficients: decode their codes, drop their bits.
        let mut k = 1;
        while k < 64 {
            if let Some((run, _)) = r.fast_ac(ac) {
                k += run + 1;
                continue;
            }
            let rs = r.decode(ac).ok_or("bad Huffman code")?;
            let (run, size) = (usize::from(rs >> 4), u32::from(rs & 15));
            if size == 0 {
                if run != 15 {
                    break;
                }
                k += 16;
            } else {
                k += run + 1;
                r.bits(size);
            }
        }
        return Ok(false);
    }
    out.fill(0.0);
    let mut has_ac = false;
    out[0] = (*pred as f32) * f32::from(c.quant[0]);
    let mut k = 1;
    while k < 64 {
        if let Some((run, v)) = r.fast_ac(ac) {
            k += run;
            if k > 63 {
                return Err("AC coefficient index out of range".to_owned());
            }
            if k <= max_k {
                let pos = ZIGZAG[k];
                has_ac |= pos % 8 < NATURAL_LIMIT[max_k] && pos / 8 < NATURAL_LIMIT[max_k];
                out[pos] = v as f32 * f32::from(c.quant[k]);
            }
            k += 1;
            continue;
        }
        let rs = r.decode(ac).ok_or("bad Huffman code")?;
        let (run, size) = (usize::from(rs >> 4), u32::from(rs & 15));
        if size == 0 {
            if run != 15 {
                break;
            }
            k += 16;
            continue;
        }
        k += run;
        if k > 63 {
            return Err("AC coefficient index out of range".to_owned());
        }
        if k <= max_k {
            let v = r.receive_extend(size);
            let pos = ZIGZAG[k];
            // Zigzag order visits positions outside the n x n corner too.
            has_ac |= pos % 8 < NATURAL_LIMIT[max_k] && pos / 8 < NATURAL_LIMIT[max_k];
            out[pos] = v as f32 * f32::from(c.quant[k]);
        } else {
            r.bits(size);
        }
        k += 1;
    }
    Ok(has_ac)
}

/// Decodes one block of one progressive scan into `block` (zigzag order;
/// `block.len()` is 1 when only DC is kept).
fn decode_progressive(
    r: &mut BitReader<'_>,
    c: &BlockCtx<'_>,
    scan: &Scan,
    block: &mut [i16],
    nz: &mut u64,
    pred: &mut i32,
    eobrun: &mut u32,
) -> Result<()> {
    if scan.ss == 0 {
        let Some(first) = block.first_mut() else {
            return Ok(());
        };
        if scan.ah == 0 {
            let dc = c.dc.ok_or("missing Huffman table")?;
            let s = r.decode(dc).ok_or("bad Huffman code")?;
            if s > 16 {
                return Err("bad DC magnitude".to_owned());
            }
            *pred = pred.wrapping_add(r.receive_extend(u32::from(s)));
            *first = (pred.wrapping_shl(scan.al)) as i16;
        } else if r.bit() {
            *first |= (1i32 << scan.al) as i16;
        }
        return Ok(());
    }
    let ac = c.ac.ok_or("missing Huffman table")?;
    if block.len() < 64 {
        return Ok(());
    }
    let (ss, se) = (scan.ss, scan.se.min(63));
    if scan.ah == 0 {
        // First pass over the band.
        if *eobrun > 0 {
            *eobrun -= 1;
            return Ok(());
        }
        let mut k = ss;
        while k <= se {
            if let Some((run, v)) = r.fast_ac(ac) {
                k += run;
                if k > 63 {
                    return Err("AC coefficient index out of range".to_owned());
                }
                block[k] = v.wrapping_shl(scan.al) as i16;
                *nz |= 1 << k;
                k += 1;
                continue;
            }
            let rs = r.decode(ac).ok_or("bad Huffman code")?;
            let (run, size) = (usize::from(rs >> 4), u32::from(rs & 15));
            if size == 0 {
                if run < 15 {
                    *eobrun = (1u32 << run) - 1;
                    if run > 0 {
                        *eobrun += r.bits(run as u32);
                    }
                    break;
                }
                k += 16;
                continue;
            }
            k += run;
            if k > 63 {
                return Err("AC coefficient index out of range".to_owned());
            }
            let v = (r.receive_extend(size).wrapping_shl(scan.al)) as i16;
            block[k] = v;
            if v != 0 {
                *nz |= 1 << k;
            }
            k += 1;
        }
        return Ok(());
    }
    // Refinement pass (libjpeg's decode_mcu_AC_refine).
    let p1 = (1i32 << scan.al) as i16;
    let m1 = (-1i32 << scan.al) as i16;
    let mut k = ss;
    if *eobrun == 0 {
        while k <= se {
            let rs = r.decode(ac).ok_or("bad Huffman code")?;
            let (mut run, size) = (i32::from(rs >> 4), rs & 15);
            let mut value = 0i16;
            if size != 0 {
                value = if r.bit() { p1 } else { m1 };
            } else if run != 15 {
                *eobrun = 1u32 << run;
                if run > 0 {
                    *eobrun += r.bits(run as u32);
                }
                break;
            }
            while k <= se {
                if *nz & (1 << k) != 0 {
                    let coef = &mut block[k];
                    if r.bit() && (*coef & p1) == 0 {
                        *coef = if *coef >= 0 {
                            coef.wrapping_add(p1)
                        } else {
                            coef.wrapping_add(m1)
                        };
                    }
                } else {
                    run -= 1;
                    if run < 0 {
                        break;
                    }
                }
                k += 1;
            }
            if value != 0 && k <= se {
                block[k] = value;
                *nz |= 1 << k;
            }
            k += 1;
        }
    }
    if *eobrun > 0 {
        // Only the non-zero coefficients from k to se get a correction bit.
        let band = if k > se {
            0
        } else {
            (u64::MAX >> (63 - se)) & (u64::MAX << k)
        };
        let mut m = *nz & band;
        while m != 0 {
            let i = m.trailing_zeros() as usize;
            m &= m - 1;
            let coef = &mut block[i];
            if r.bit() && (*coef & p1) == 0 {
                *coef = if *coef >= 0 {
                    coef.wrapping_add(p1)
                } else {
                    coef.wrapping_add(m1)
                };
            }
        }
        *eobrun -= 1;
    }
    Ok(())
}

/// Turns the stored coefficients of a progressive image into samples.
fn finish_progressive(
    frame: &Frame,
    tables: &Tables,
    buf: &mut Buffers,
    idct: &Idct,
    n: usize,
    max_k: usize,
) -> Result<()> {
    let stride = buf.stride;
    let mut planes = Vec::with_capacity(frame.comps.len());
    let mut coefs = [0f32; 64];
    for (ci, comp) in frame.comps.iter().enumerate() {
        let quant = tables.quant[comp.tq]
            .as_ref()
            .ok_or("component uses an undefined quantization table")?;
        let width = comp.bw * n;
        let mut plane = vec![0u8; width * comp.bh * n];
        let store = std::mem::take(&mut buf.coefs[ci]);
        for (b, block) in store.chunks_exact(stride).enumerate() {
            let (bx, by) = (b % comp.bw, b / comp.bw);
            let offset = by * n * width + bx * n;
            if n == 1 {
                if let Some(px) = plane.get_mut(offset) {
                    *px = to_sample(f32::from(block[0]) * f32::from(quant[0]) / 8.0);
                }
                continue;
            }
            coefs.fill(0.0);
            let mut ac = false;
            for (k, (&v, &q)) in block.iter().zip(quant.iter()).enumerate().take(max_k + 1) {
                if v != 0 {
                    let pos = ZIGZAG[k];
                    coefs[pos] = f32::from(v) * f32::from(q);
                    ac |= k > 0 && pos % 8 < n && pos / 8 < n;
                }
            }
            idct.run(&coefs, ac, &mut plane, offset, width);
        }
        planes.push(plane);
    }
    buf.planes = planes;
    Ok(())
}

/// Upsamples (by replication) and converts the component planes to
/// interleaved output of `ceil(size * n / 8)`.
fn convert(
    frame: &Frame,
    planes: &[Vec<u8>],
    n: usize,
    denom: u32,
    adobe: Option<u8>,
    jfif: bool,
) -> JpegImage {
    let d = denom as usize;
    let (w, h) = (frame.width.div_ceil(d), frame.height.div_ceil(d));
    // For each component: its plane row width and which plane column and
    // row every output column and row reads.
    let cols: Vec<Vec<usize>> = frame
        .comps
        .iter()
        .map(|c| (0..w).map(|x| x * c.h / frame.hmax).collect())
        .collect();
    let row_of = |c: &Component, y: usize| y * c.v / frame.vmax;
    let width_of = |c: &Component| c.bw * n;
    let sample = |ci: usize, x: usize, row_start: usize| -> u8 {
        planes[ci]
            .get(row_start + cols[ci][x])
            .copied()
            .unwrap_or(0)
    };
    let comps = &frame.comps;
    let pixels = match comps.len() {
        1 => {
            let mut out = Vec::with_capacity(w * h);
            for y in 0..h {
                let rs = row_of(&comps[0], y) * width_of(&comps[0]);
                out.extend((0..w).map(|x| sample(0, x, rs)));
            }
            JpegPixels::Gray(out)
        }
        3 => {
            let rgb = match adobe {
                Some(t) => t == 0,
                None => !jfif && comps[0].id == b'R' && comps[1].id == b'G' && comps[2].id == b'B',
            };
            let lut = YccLut::new();
            let mut out = Vec::with_capacity(w * h * 3);
            for y in 0..h {
                let rs: Vec<usize> = comps.iter().map(|c| row_of(c, y) * width_of(c)).collect();
                for x in 0..w {
                    let (a, b, c) = (
                        sample(0, x, rs[0]),
                        sample(1, x, rs[1]),
                        sample(2, x, rs[2]),
                    );
                    if rgb {
                        out.extend_from_slice(&[a, b, c]);
                    } else {
                        out.extend_from_slice(&lut.rgb(a, b, c));
                    }
                }
            }
            JpegPixels::Rgb(out)
        }
        _ => {
            let ycck = adobe == Some(2);
            // Without an Adobe marker the samples are plain CMYK; store
            // them inverted like everything else.
            let inverted = adobe.is_some();
            let lut = YccLut::new();
            let mut out = Vec::with_capacity(w * h * 4);
            for y in 0..h {
                let rs: Vec<usize> = comps.iter().map(|c| row_of(c, y) * width_of(c)).collect();
                for x in 0..w {
                    let s = [
                        sample(0, x, rs[0]),
                        sample(1, x, rs[1]),
                        sample(2, x, rs[2]),
                        sample(3, x, rs[3]),
                    ];
                    let px = if ycck {
                        let [r, g, b] = lut.rgb(s[0], s[1], s[2]);
                        [255 - r, 255 - g, 255 - b, s[3]]
                    } else if inverted {
                        s
                    } else {
                        s.map(|v| 255 - v)
                    };
                    out.extend_from_slice(&px);
                }
            }
            JpegPixels::InvertedCmyk(out)
        }
    };
    JpegImage {
        width: w as u32,
        height: h as u32,
        pixels,
    }
}

/// JFIF YCbCr -> RGB in 16.16 fixed point.
struct YccLut {
    cr_r: [i32; 256],
    cb_b: [i32; 256],
    cr_g: [i32; 256],
    cb_g: [i32; 256],
}

impl YccLut {
    fn new() -> Self {
        let mut lut = Self {
            cr_r: [0; 256],
            cb_b: [0; 256],
            cr_g: [0; 256],
            cb_g: [0; 256],
        };
        let fix = |v: f64| (v * 65536.0).round() as i32;
        for i in 0..256 {
            let c = i as i32 - 128;
            lut.cr_r[i] = (fix(1.402) * c + 32768) >> 16;
            lut.cb_b[i] = (fix(1.772) * c + 32768) >> 16;
            lut.cr_g[i] = -fix(0.714_136_286) * c;
            lut.cb_g[i] = -fix(0.344_136_286) * c + 32768;
        }
        lut
    }

    #[inline]
    fn rgb(&self, y: u8, cb: u8, cr: u8) -> [u8; 3] {
        let y = i32::from(y);
        let (cb, cr) = (usize::from(cb), usize::from(cr));
        let clamp = |v: i32| v.clamp(0, 255) as u8;
        [
            clamp(y + self.cr_r[cr]),
            clamp(y + ((self.cb_g[cb] + self.cr_g[cr]) >> 16)),
            clamp(y + self.cb_b[cb]),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_zigzag_is_a_permutation() {
        let mut seen = [false; 64];
        for &z in &ZIGZAG {
            assert!(!seen[z]);
            seen[z] = true;
        }
        assert_eq!(ZIGZAG[4], 9); // (1,1)
        assert_eq!(ZIGZAG[24], 27); // (3,3)
    }

    #[test]
    fn jpeg_rejects_non_jpeg_and_odd_variants() {
        assert!(decode(b"GIF89a", 8).is_err());
        assert!(decode(&[0xFF, 0xD8], 8).is_err());
        // SOF3 (lossless) header.
        let lossless = [
            0xFF, 0xD8, 0xFF, 0xC3, 0x00, 0x0B, 0x08, 0x00, 0x10, 0x00, 0x10, 0x01, 0x01, 0x11,
            0x00, 0xFF, 0xD9,
        ];
        let err = decode(&lossless, 1).unwrap_err();
        assert!(err.contains("lossless"), "{err}");
        assert!(header(&lossless).unwrap_err().contains("lossless"));
    }

    #[test]
    fn jpeg_ycc_lut_matches_formula() {
        let lut = YccLut::new();
        assert_eq!(lut.rgb(128, 128, 128), [128, 128, 128]);
        assert_eq!(lut.rgb(255, 128, 128), [255, 255, 255]);
        // Pure red in JFIF YCbCr: (76, 85, 255).
        let [r, g, b] = lut.rgb(76, 85, 255);
        assert!(r >= 253 && g <= 2 && b <= 2, "{r} {g} {b}");
    }
}

#[cfg(test)]
mod reference_tests {
    //! Our decoder against the `image` crate's (zune-jpeg) on the committed
    //! fixtures, at every scale.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> Vec<u8> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/images");
        std::fs::read(dir.join(name)).unwrap()
    }

    /// RGB of a decode, CMYK turned into RGB the naive way.
    pub(crate) fn to_rgb(img: &JpegImage) -> Vec<u8> {
        match &img.pixels {
            JpegPixels::Gray(g) => g.iter().flat_map(|&v| [v, v, v]).collect(),
            JpegPixels::Rgb(v) => v.clone(),
            JpegPixels::InvertedCmyk(v) => v
                .chunks_exact(4)
                .flat_map(|p| {
                    let k = u32::from(p[3]);
                    [0, 1, 2].map(|i| ((u32::from(p[i]) * k + 127) / 255) as u8)
                })
                .collect(),
        }
    }

    /// Box-average of the reference to `ceil(w/d)` x `ceil(h/d)`.
    fn shrink(rgb: &image::RgbImage, d: u32) -> Vec<u8> {
        let (w, h) = rgb.dimensions();
        let (ow, oh) = (w.div_ceil(d), h.div_ceil(d));
        let mut out = Vec::new();
        for oy in 0..oh {
            for ox in 0..ow {
                let mut s = [0u32; 3];
                let mut cnt = 0;
                for y in oy * d..((oy + 1) * d).min(h) {
                    for x in ox * d..((ox + 1) * d).min(w) {
                        let p = rgb.get_pixel(x, y);
                        for c in 0..3 {
                            s[c] += u32::from(p[c]);
                        }
                        cnt += 1;
                    }
                }
                out.extend(s.map(|v| ((v + cnt / 2) / cnt) as u8));
            }
        }
        out
    }

    fn mad(a: &[u8], b: &[u8]) -> f64 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(&x, &y)| f64::from(x.abs_diff(y)))
            .sum::<f64>()
            / a.len() as f64
    }

    pub(crate) fn check(bytes: &[u8], name: &str, tolerance: [f64; 4]) {
        let reference = image::load_from_memory(bytes).unwrap().to_rgb8();
        for (i, d) in [1u32, 2, 4, 8].into_iter().enumerate() {
            let img = decode(bytes, d).unwrap();
            assert_eq!(
                (img.width, img.height),
                (
                    reference.width().div_ceil(d),
                    reference.height().div_ceil(d)
                ),
                "{name} 1/{d}"
            );
            let got = to_rgb(&img);
            let want = if d == 1 {
                reference.as_raw().clone()
            } else {
                shrink(&reference, d)
            };
            let m = mad(&got, &want);
            assert!(m < tolerance[i], "{name} at 1/{d}: mean abs diff {m:.2}");
        }
    }

    /// Every JPEG of the shared corpus (progressive, CMYK/YCCK, gray,
    /// 4:2:0/4:2:2/4:4:4, 20 MP), when present; skipped loudly otherwise.
    #[test]
    fn jpeg_corpus_matches_reference_decoder_at_every_scale() {
        use std::io::Write as _;
        let dir = std::env::var_os("THUMBFLOW_CORPUS").map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
            PathBuf::from,
        );
        let Ok(entries) = std::fs::read_dir(&dir) else {
            let _ = writeln!(
                std::io::stderr(),
                "corpus not found at {}: decoder comparison skipped",
                dir.display()
            );
            return;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".jpg"))
            .collect();
        names.sort();
        assert!(!names.is_empty());
        for name in names {
            let bytes = std::fs::read(dir.join(&name)).unwrap();
            check(&bytes, &name, [2.0, 3.0, 3.5, 4.0]);
        }
    }

    #[test]
    fn jpeg_fixtures_match_reference_decoder_at_every_scale() {
        for name in [
            "rocket.jpg",
            "rocket_gray.jpg",
            "rocket_cmyk.jpg",
            "rocket_progressive.jpg",
            "rocket_p3.jpg",
            "upright.jpg",
            "orient6.jpg",
        ] {
            check(&fixture(name), name, [1.5, 2.5, 3.0, 3.5]);
        }
    }
}
