//! The adoption map holds a record for every session the kernel's maps hold
//! (root: bpffs).
//!
//! The next agent takes over only the sessions it finds a record for; the
//! others start anew, a flap at every peer. The map was once made for 4096
//! records while the program's maps hold 16,384 sessions: at 10,000
//! sessions (issue 19's bench) 5905 sessions had no record. An agent
//! adopting a map an earlier agent made that small grows it, records and
//! all, in place of the old pin.

use anyhow::{Context as _, ensure};
use aya::maps::{HashMap, MapData};
use bfd_common::maps::{ADOPT_MAP, AdoptRecord, MAP_LAYOUT, MAX_SESSIONS};
use bfd_lab::lab::{PinDir, require_root};
use bfd_user::adopt::{AdoptMap, CAPACITY};

/// A record for session `discr` (what is in it does not matter here, only
/// that it comes back).
fn record(discr: u32) -> AdoptRecord {
    AdoptRecord {
        layout: MAP_LAYOUT,
        local_discr: discr,
        source_port: 49152 + (discr % 16384) as u16,
        desired_min_tx_us: discr.wrapping_mul(7),
        ..AdoptRecord::default()
    }
}

fn capacity_of_pin(pins: &PinDir) -> anyhow::Result<u32> {
    let data = MapData::from_pin(pins.join(ADOPT_MAP)).context("opening the pin")?;
    Ok(data.info()?.max_entries())
}

#[bfd_lab::test]
fn the_adoption_map_holds_a_record_for_every_session_the_kernel_maps_hold() -> anyhow::Result<()> {
    require_root()?;
    let pins = PinDir::new("bfdad");
    std::fs::create_dir_all(pins.path())?;
    let mut map = AdoptMap::create(pins.path())?;
    ensure!(map.capacity()? == CAPACITY, "capacity {} instead of {CAPACITY}", map.capacity()?);
    let sessions = u32::try_from(MAX_SESSIONS)?;
    for discr in 1..=sessions {
        map.set(discr, &record(discr)).with_context(|| format!("the record of session {discr}"))?;
    }
    let records = AdoptMap::open(pins.path())?.records();
    ensure!(records.len() == MAX_SESSIONS, "{} records read back of {MAX_SESSIONS}", records.len());
    ensure!(records.iter().all(|back| *back == record(back.local_discr)), "a record read back changed");
    Ok(())
}

#[bfd_lab::test]
fn an_adoption_map_an_older_agent_made_for_4096_is_grown_with_every_record() -> anyhow::Result<()> {
    require_root()?;
    let pins = PinDir::new("bfdag");
    std::fs::create_dir_all(pins.path())?;
    // What agents before the fix pinned: 4096 entries, key 0 the layout,
    // full (4095 sessions).
    let mut old = HashMap::<MapData, u32, AdoptRecord>::create(4096, 0)?;
    old.insert(0, AdoptRecord { layout: MAP_LAYOUT, ..AdoptRecord::default() }, 0)?;
    for discr in 1..4096 {
        old.insert(discr, record(discr), 0)?;
    }
    ensure!(old.insert(5000, record(5000), 0).is_err(), "the old map took a 4097th record");
    old.pin(pins.join(ADOPT_MAP))?;

    let mut map = AdoptMap::open(pins.path())?;
    ensure!(map.capacity()? == CAPACITY, "capacity {} after adopting", map.capacity()?);
    ensure!(capacity_of_pin(&pins)? == CAPACITY, "the pin still holds the small map");
    ensure!(map.layout() == Some(MAP_LAYOUT), "the layout record was lost: {:?}", map.layout());
    let records = map.records();
    ensure!(records.len() == 4095, "{} records after growing, 4095 before", records.len());
    ensure!(records.iter().all(|back| *back == record(back.local_discr)), "a record changed in the copy");
    map.set(5000, &record(5000)).context("a record past the old capacity")?;
    let leftovers: Vec<_> = std::fs::read_dir(pins.path())?
        .map(|entry| entry.map(|entry| entry.file_name()))
        .collect::<Result<_, _>>()?;
    ensure!(leftovers == [std::ffi::OsString::from(ADOPT_MAP)], "pins left: {leftovers:?}");

    // Opened again (the next restart): nothing to grow, everything there.
    let again = AdoptMap::open(pins.path())?;
    ensure!(again.records().len() == 4096, "{} records on the next adoption", again.records().len());
    Ok(())
}
