//! §6.3 discriminators and demultiplexing, RFC 5881/5883 TTL rules.

mod common;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bfd_common::wire::State;
use bfd_session::rng::Rng;
use bfd_session::table::ANSWERING_DISCRIMINATORS;
use bfd_session::{AddError, Arrival, DemuxError, ReceiveError, SessionConfig, SessionKey, Sessions, Time};
use common::*;

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const LINK_LOCAL: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2));

fn single_hop(peer: IpAddr, ifindex: Option<u32>) -> SessionKey {
    SessionKey { peer, local: None, ifindex, multihop: false }
}

fn arrival(source: IpAddr, ifindex: u32) -> Arrival {
    Arrival { source, destination: LOCAL, ifindex, ttl: 255, multihop: false }
}

#[test]
fn s6_3_discriminators_are_random_nonzero_and_unique() {
    let mut table = Sessions::new(1);
    let mut seen = HashSet::new();
    for i in 0..10_000u32 {
        let peer = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let discr = table.add(single_hop(peer, None), config(300, 300, 3), 255, Time::ZERO).unwrap();
        assert_ne!(discr, 0);
        assert!(seen.insert(discr), "{discr} given twice");
    }
    // Random, not a counter: consecutive sessions are far apart, and
    // another seed gives other values.
    let mut sorted: Vec<u32> = seen.iter().copied().collect();
    sorted.sort();
    let adjacent = sorted.windows(2).filter(|w| w[1] - w[0] == 1).count();
    assert!(adjacent < 10, "{adjacent} adjacent discriminators");
    let first =
        |seed| Sessions::new(seed).add(single_hop(PEER, None), config(300, 300, 3), 255, Time::ZERO).unwrap();
    assert_ne!(first(1), first(2));
    assert_eq!(first(1), first(1));
}

#[test]
fn s6_3_a_session_that_may_answer_draws_the_top_sixteenth_still_random_and_unique() {
    // Only the larger discriminator answers (Session::answering): against
    // a peer that draws uniformly (FRR, BIRD) ours should be the larger.
    let may_answer = SessionConfig { kernel_answers: true, ..config(300, 300, 3) };
    let mut table = Sessions::new(7);
    let mut ours = Vec::new();
    for i in 0..10_000u32 {
        let peer = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let discr = table.add(single_hop(peer, None), may_answer, 255, Time::ZERO).unwrap();
        assert!(ANSWERING_DISCRIMINATORS.contains(&discr), "{discr:#x} outside the answering range");
        ours.push(discr);
    }
    let unique: HashSet<u32> = ours.iter().copied().collect();
    assert_eq!(unique.len(), ours.len(), "a discriminator given twice");
    let mut sorted = ours.clone();
    sorted.sort();
    let adjacent = sorted.windows(2).filter(|w| w[1] - w[0] == 1).count();
    assert!(adjacent < 10, "{adjacent} adjacent discriminators: not random");
    // Against uniformly drawn peers ours is the larger about 31 times in 32.
    let mut peers = Rng::new(11);
    let larger = ours.iter().filter(|&&discr| discr > peers.next_u32()).count();
    assert!(larger >= 9_500, "ours the larger in only {larger} of 10,000");

    // Multihop sessions never answer: the whole space, as every session
    // without kernel answers.
    let mut table = Sessions::new(7);
    let below = (0..1000u32)
        .map(|i| {
            let peer = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            let key = SessionKey { peer, local: Some(LOCAL), ifindex: None, multihop: true };
            table.add(key, may_answer, 254, Time::ZERO).unwrap()
        })
        .filter(|discr| !ANSWERING_DISCRIMINATORS.contains(discr))
        .count();
    assert!(below > 800, "only {below} of 1000 multihop discriminators outside the answering range");
}

#[test]
fn s6_3_a_preferred_discriminator_is_used_only_when_free_and_nonzero() {
    let mut table = Sessions::new(5);
    let other_peer = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 3));
    let third_peer = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 4));
    let add = |table: &mut Sessions, peer, preferred| {
        table
            .add_preferring(single_hop(peer, None), config(300, 300, 3), 255, Time::ZERO, preferred, ())
            .unwrap()
    };
    assert_eq!(add(&mut table, PEER, Some(4242)), 4242);
    // Taken: a fresh one, still unique.
    let second = add(&mut table, other_peer, Some(4242));
    assert!(second != 4242 && second != 0);
    // Zero is reserved (§6.8.1): a fresh one.
    assert_ne!(add(&mut table, third_peer, Some(0)), 0);
    assert_eq!(table.demux(&from_peer(State::Up, 4242), &arrival(PEER, 2)), Ok(4242));
}

#[test]
fn s6_3_demux_by_your_discriminator() {
    let mut table = Sessions::new(3);
    let discr = table.add(single_hop(PEER, Some(2)), config(300, 300, 3), 255, Time::ZERO).unwrap();
    let other = table.add(single_hop(LINK_LOCAL, Some(2)), config(300, 300, 3), 255, Time::ZERO).unwrap();
    assert_ne!(discr, other);
    assert_eq!(table.demux(&from_peer(State::Up, discr), &arrival(PEER, 2)), Ok(discr));
    // Unknown discriminator: discarded.
    let unknown = discr.wrapping_add(1).max(1);
    assert_eq!(
        table.demux(&from_peer(State::Up, unknown), &arrival(PEER, 2)),
        Err(DemuxError::UnknownDiscriminator(unknown))
    );
    // The right discriminator from the wrong place: a spoof.
    let spoofed = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
    assert_eq!(
        table.demux(&from_peer(State::Up, discr), &arrival(spoofed, 2)),
        Err(DemuxError::AddressMismatch(discr))
    );
    assert_eq!(
        table.demux(&from_peer(State::Up, discr), &arrival(PEER, 3)),
        Err(DemuxError::AddressMismatch(discr))
    );
}

#[test]
fn s6_3_demux_by_addresses_and_interface_when_your_discriminator_is_zero() {
    let mut table = Sessions::new(4);
    // The same link-local peer address on two interfaces: two sessions.
    let eth0 = table.add(single_hop(LINK_LOCAL, Some(2)), config(300, 300, 3), 255, Time::ZERO).unwrap();
    let eth1 = table.add(single_hop(LINK_LOCAL, Some(3)), config(300, 300, 3), 255, Time::ZERO).unwrap();
    // An unbound session and a bound one for the same peer: the bound one
    // wins on its interface.
    let any = table.add(single_hop(PEER, None), config(300, 300, 3), 255, Time::ZERO).unwrap();
    let bound = table.add(single_hop(PEER, Some(5)), config(300, 300, 3), 255, Time::ZERO).unwrap();
    let hello = from_peer(State::Down, 0);
    assert_eq!(table.demux(&hello, &arrival(LINK_LOCAL, 2)), Ok(eth0));
    assert_eq!(table.demux(&hello, &arrival(LINK_LOCAL, 3)), Ok(eth1));
    assert_eq!(table.demux(&hello, &arrival(LINK_LOCAL, 4)), Err(DemuxError::NoSession));
    assert_eq!(table.demux(&hello, &arrival(PEER, 5)), Ok(bound));
    assert_eq!(table.demux(&hello, &arrival(PEER, 7)), Ok(any));
    let stranger = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
    assert_eq!(table.demux(&hello, &arrival(stranger, 2)), Err(DemuxError::NoSession));
    // A multihop packet does not match a single-hop session.
    let multihop = Arrival { multihop: true, ..arrival(PEER, 5) };
    assert_eq!(table.demux(&hello, &multihop), Err(DemuxError::NoSession));
    // Duplicates are refused.
    assert!(matches!(
        table.add(single_hop(PEER, None), config(300, 300, 3), 255, Time::ZERO),
        Err(AddError::Duplicate(_))
    ));
    // Removal frees the key.
    table.remove(any).unwrap();
    assert_eq!(table.demux(&hello, &arrival(PEER, 7)), Err(DemuxError::NoSession));
}

#[test]
fn rfc5881_5_single_hop_needs_ttl_255_and_rfc5883_multihop_its_minimum() {
    let mut table = Sessions::new(5);
    let single = table.add(single_hop(PEER, None), config(300, 300, 3), 1, Time::ZERO).unwrap();
    let hello = from_peer(State::Down, 0);
    assert_eq!(table.demux(&hello, &arrival(PEER, 2)), Ok(single));
    // min_ttl is ignored for single-hop: always 255 (GTSM).
    assert_eq!(
        table.demux(&hello, &Arrival { ttl: 254, ..arrival(PEER, 2) }),
        Err(DemuxError::TtlTooLow { ttl: 254, required: 255 })
    );
    let remote = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    let key = SessionKey { peer: remote, local: Some(LOCAL), ifindex: None, multihop: true };
    let multi = table.add(key, config(300, 300, 3), 254, Time::ZERO).unwrap();
    let via = |ttl| Arrival { source: remote, destination: LOCAL, ifindex: 9, ttl, multihop: true };
    assert_eq!(table.demux(&hello, &via(254)), Ok(multi));
    assert_eq!(table.demux(&hello, &via(253)), Err(DemuxError::TtlTooLow { ttl: 253, required: 254 }));
    // Multihop sessions loop no echo back (RFC 5883).
    assert_eq!(table.get(multi).unwrap().status().required_min_echo_rx, core::time::Duration::ZERO);
}

#[test]
fn receive_runs_demux_then_the_session() {
    let mut table = Sessions::new(6);
    let discr = table.add(single_hop(PEER, None), config(300, 300, 3), 255, Time::ZERO).unwrap();
    assert_eq!(table.receive(at_ms(1), &from_peer(State::Down, 0), &arrival(PEER, 2)), Ok(discr));
    assert_eq!(table.get(discr).unwrap().state(), State::Init);
    assert_eq!(
        table.receive(at_ms(2), &from_peer(State::Up, 12345), &arrival(PEER, 2)),
        Err(ReceiveError::Demux(DemuxError::UnknownDiscriminator(12345)))
    );
    assert!(table.next_deadline().is_some());
}
