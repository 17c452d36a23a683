//! A deterministic sample wedding for `heirloom demo`: photos that start
//! like JPEGs, a video that starts like an MP4, and text documents, so that
//! content classification sees what a real wedding folder holds.

use std::fs;
use std::io;
use std::path::Path;

/// What was written.
pub struct Sample {
    pub files: u64,
    pub bytes: u64,
    pub photos: u64,
    pub videos: u64,
    pub documents: u64,
}

/// splitmix64: a fixed stream of pseudo-random bytes.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill(&mut self, out: &mut Vec<u8>, len: usize) {
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
    }
}

const PHOTOS: u64 = 40;
const JPEG_HEAD: &[u8] = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x48\x00\x48\x00\x00";
const MP4_HEAD: &[u8] = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41";

/// Writes the sample under `dir` (about 60 MiB).
pub fn write_wedding(dir: &Path) -> io::Result<Sample> {
    let mut rng = Stream(0x5EED_2026_0613);
    let mut s = Sample {
        files: 0,
        bytes: 0,
        photos: 0,
        videos: 0,
        documents: 0,
    };
    let put = |s: &mut Sample, rel: &str, data: &[u8]| -> io::Result<()> {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, data)?;
        s.files += 1;
        s.bytes += data.len() as u64;
        Ok(())
    };
    let mut favourite = Vec::new();
    for i in 1..=PHOTOS {
        let part = ["getting-ready", "ceremony", "portraits", "reception"]
            [(i as usize - 1) * 4 / PHOTOS as usize];
        let len = 900 * 1024 + (rng.next() % (700 * 1024)) as usize;
        let mut data = JPEG_HEAD.to_vec();
        rng.fill(&mut data, len - 2);
        data.extend_from_slice(b"\xFF\xD9");
        put(&mut s, &format!("photos/{part}/IMG_{i:04}.jpg"), &data)?;
        s.photos += 1;
        if i == 7 {
            favourite = data;
        }
    }
    // The same photo again in an album folder: stored once.
    put(&mut s, "photos/album-picks/IMG_0007.jpg", &favourite)?;
    s.photos += 1;

    let mut video = MP4_HEAD.to_vec();
    rng.fill(&mut video, 12 * 1024 * 1024);
    put(&mut s, "video/first-dance.mp4", &video)?;
    s.videos += 1;

    let guests: String = (1..=180)
        .map(|i| {
            format!(
                "{i},Guest {i},table {},{}\n",
                1 + i % 18,
                ["yes", "no", "maybe"][i % 3]
            )
        })
        .collect();
    let docs = [
        ("documents/contract.txt", "Photography contract\n\nCoverage: 10 hours. Deliverables: 600 edited photos, one film.\n".repeat(40)),
        ("documents/timeline.md", "# Wedding day\n\n- 14:00 ceremony\n- 15:00 portraits\n- 18:00 dinner\n- 21:00 first dance\n".repeat(30)),
        ("documents/guest-list.csv", format!("id,name,table,rsvp\n{guests}")),
        ("documents/vendors.txt", "Florist: Petal & Stem\nVenue: The Old Mill\nBand: The Confetti Five\n".repeat(20)),
        ("documents/vows.txt", "I promise to back up our photos in at least five places.\n".repeat(10)),
    ];
    for (name, text) in docs {
        put(&mut s, name, text.as_bytes())?;
        s.documents += 1;
    }
    Ok(s)
}
