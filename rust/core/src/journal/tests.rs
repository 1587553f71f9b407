use super::*;
use proptest::prelude::*;

fn command(index: i128) -> Command {
    Command {
        name: "deposit".to_owned(),
        args: vec![Value::Int(index), Value::Text("USDC".to_owned()), Value::Text(format!("{index}.5"))],
        refused: index % 7 == 3,
    }
}

fn journal(records: i128) -> (Vec<u8>, Vec<usize>) {
    let mut bytes = journal_header(b"{\"config\": 1}");
    let mut offsets = Vec::new();
    for index in 0..records {
        offsets.push(bytes.len());
        encode_record(&command(index), &mut bytes);
    }
    (bytes, offsets)
}

#[test]
fn records_round_trip_with_their_offsets() {
    let (bytes, offsets) = journal(20);
    let decoded = decode_journal(&bytes).unwrap();
    assert_eq!(decoded.metadata, b"{\"config\": 1}");
    assert_eq!(decoded.torn, None);
    let expected: Vec<Record> =
        (0..20).map(|index| Record { offset: offsets[index as usize] as u64, command: command(index) }).collect();
    assert_eq!(decoded.records, expected);
}

#[test]
fn a_cut_at_any_byte_of_the_last_record_is_a_torn_tail() {
    let (bytes, offsets) = journal(5);
    let last = offsets[4];
    for cut in last + 1..bytes.len() {
        let decoded = decode_journal(&bytes[..cut]).unwrap();
        assert_eq!(decoded.records.len(), 4, "cut at {cut}");
        assert_eq!(decoded.torn.as_ref().map(|torn| torn.offset), Some(last as u64));
    }
    assert_eq!(decode_journal(&bytes[..last]).unwrap().torn, None);
}

#[test]
fn zeros_after_the_last_record_are_a_torn_tail() {
    let (mut bytes, _) = journal(3);
    let end = bytes.len();
    bytes.extend([0; 100]);
    let decoded = decode_journal(&bytes).unwrap();
    assert_eq!(decoded.records.len(), 3);
    assert_eq!(decoded.torn, Some(TornTail { offset: end as u64, reason: "the record header fails its CRC" }));
}

#[test]
fn a_flipped_bit_in_the_last_record_is_a_torn_tail() {
    let (mut bytes, offsets) = journal(3);
    let at = bytes.len() - 2;
    bytes[at] ^= 0x10;
    let decoded = decode_journal(&bytes).unwrap();
    assert_eq!(decoded.records.len(), 2);
    assert_eq!(decoded.torn.unwrap().offset, offsets[2] as u64);
}

#[test]
fn a_flipped_bit_in_a_middle_record_is_corruption_naming_its_offset() {
    let (bytes, offsets) = journal(6);
    // Every byte of record 2: its length, its CRCs and its payload.
    for at in offsets[2]..offsets[3] {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x04;
        match decode_journal(&damaged) {
            Err(JournalError::Corrupt { kind: "journal", offset, reason }) => {
                assert_eq!(offset, offsets[2] as u64, "flip at {at}: {reason}");
                assert!(reason.contains(&format!("a valid record follows at offset {}", offsets[3])), "{reason}");
            }
            other => panic!("flip at {at}: expected corruption, got {other:?}"),
        }
    }
}

#[test]
fn header_problems_are_errors() {
    let (bytes, _) = journal(1);
    assert_eq!(decode_journal(b"hello"), Err(JournalError::NotAJournal { kind: "journal" }));
    let mut version = bytes.clone();
    version[8] = 9;
    assert_eq!(
        decode_journal(&version),
        Err(JournalError::UnknownVersion { kind: "journal", version: 9, supported: JOURNAL_VERSION })
    );
    let mut metadata = bytes.clone();
    metadata[15] ^= 1;
    assert!(matches!(decode_journal(&metadata), Err(JournalError::Corrupt { offset: 27, .. })));
    assert!(matches!(decode_journal(&bytes[..20]), Err(JournalError::Corrupt { .. })));
}

#[test]
fn snapshots_round_trip_and_refuse_damage() {
    let bytes = encode_snapshot(42, 0xfeed, b"state bytes");
    assert_eq!(
        decode_snapshot(&bytes),
        Ok(SnapshotFile { records: 42, state_hash: 0xfeed, body: b"state bytes".to_vec() })
    );
    for at in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x01;
        assert!(decode_snapshot(&damaged).is_err(), "flip at {at}");
    }
    let mut version = bytes.clone();
    version[8] = 2;
    assert_eq!(
        decode_snapshot(&version),
        Err(JournalError::UnknownVersion { kind: "snapshot", version: 2, supported: SNAPSHOT_VERSION })
    );
    assert!(decode_snapshot(&bytes[..bytes.len() - 1]).is_err());
}

fn scratch(name: &str) -> std::path::PathBuf {
    let directory = std::env::temp_dir().join(format!("crossbook-journal-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).unwrap();
    directory
}

#[test]
fn the_writer_appends_records_that_decode_and_truncates_a_torn_tail() {
    let directory = scratch("writer");
    let path = directory.join("journal.cbj");
    for fsync in [Fsync::Always, Fsync::Batch(3), Fsync::Never] {
        let _ = std::fs::remove_file(&path);
        let mut writer = JournalWriter::create(&path, b"meta", fsync).unwrap();
        assert!(JournalWriter::create(&path, b"meta", fsync).is_err(), "an existing journal is never overwritten");
        for index in 0..10 {
            writer.append(&command(index)).unwrap();
        }
        writer.sync().unwrap();
        assert_eq!(writer.records(), 10);
        drop(writer);
        let mut bytes = std::fs::read(&path).unwrap();
        let decoded = decode_journal(&bytes).unwrap();
        assert_eq!(decoded.records.len(), 10);
        // Tear the last record, reopen with truncation, append: the file is whole again.
        bytes.truncate(bytes.len() - 3);
        std::fs::write(&path, &bytes).unwrap();
        let torn = decode_journal(&bytes).unwrap();
        assert_eq!(torn.records.len(), 9);
        let offset = torn.torn.unwrap().offset;
        let mut writer = JournalWriter::append_to(&path, Some(offset), 9, fsync).unwrap();
        writer.append(&command(99)).unwrap();
        drop(writer);
        let healed = decode_journal(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(healed.torn, None);
        assert_eq!(healed.records.len(), 10);
        assert_eq!(healed.records[9].command, command(99));
    }
    std::fs::remove_dir_all(&directory).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), magic: bool) {
        let mut input = if magic { journal_header(b"m") } else { Vec::new() };
        input.extend(bytes);
        let _ = decode_journal(&input);
        let _ = decode_snapshot(&input);
    }

    #[test]
    fn mutated_journals_never_panic_and_never_lose_records_silently(
        records in 1i128..12,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate: bool,
    ) {
        let (mut bytes, offsets) = journal(records);
        let body = offsets[0];
        for (at, mask) in &flips {
            let position = body + at.index(bytes.len() - body);
            bytes[position] ^= mask;
        }
        if truncate {
            bytes.truncate(body + cut.index(bytes.len() - body));
        }
        match decode_journal(&bytes) {
            Ok(decoded) => {
                // Whatever decodes is a prefix of what was written.
                for (index, record) in decoded.records.iter().enumerate() {
                    prop_assert_eq!(&record.command, &command(index as i128));
                    prop_assert_eq!(record.offset, offsets[index] as u64);
                }
                if let Some(torn) = decoded.torn {
                    prop_assert_eq!(torn.offset, offsets[decoded.records.len()] as u64);
                }
            }
            Err(JournalError::Corrupt { offset, .. }) => {
                prop_assert!(offsets.contains(&(offset as usize)));
            }
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }
}
