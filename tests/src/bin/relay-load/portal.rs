//! Scenario `portal`: the mixed workload shaped like a portal's traffic (issue 21): many small
//! spaces instead of one large room. `--portal-devices` devices in `--portal-spaces` spaces,
//! each space its own MLS room of 2 to 8 members (a staff member, who created the room, and
//! customers; sizes drawn from `--portal-seed`, summing to the device count). Every device runs
//! the closed loop of `mixed_run.rs` (posts, SDK-style syncs, uploads) in its own space's room.
//! The spaces are set up in parallel.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::json;

use sealroom_tests::relay::{Device, Relay};

use crate::*;

/// Fewest and most members of a space's room.
pub(crate) const SPACE_MIN: usize = 2;
pub(crate) const SPACE_MAX: usize = 8;

/// Spaces set up at once (each by its own thread, all through the relay's HTTP API).
const SETUP_THREADS: usize = 16;

/// The member counts of `spaces` spaces, each from `SPACE_MIN` to `SPACE_MAX`, summing to
/// `devices`: drawn uniformly from the seed, then moved one member at a time (at random spaces
/// still within the bounds) until the sum is right. The same arguments give the same sizes.
pub(crate) fn space_sizes(devices: usize, spaces: usize, seed: u64) -> Res<Vec<usize>> {
    if spaces == 0 || devices < SPACE_MIN * spaces || devices > SPACE_MAX * spaces {
        return Err(format!(
            "{devices} devices do not fit {spaces} spaces of {SPACE_MIN} to {SPACE_MAX} members"
        )
        .into());
    }
    let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let span = (SPACE_MAX - SPACE_MIN + 1) as u64;
    let mut sizes: Vec<usize> = (0..spaces)
        .map(|_| SPACE_MIN + (next() % span) as usize)
        .collect();
    let mut sum: usize = sizes.iter().sum();
    while sum != devices {
        let i = (next() % spaces as u64) as usize;
        if sum < devices && sizes[i] < SPACE_MAX {
            sizes[i] += 1;
            sum += 1;
        } else if sum > devices && sizes[i] > SPACE_MIN {
            sizes[i] -= 1;
            sum -= 1;
        }
    }
    Ok(sizes)
}

/// Sets up the portal's spaces (`SETUP_THREADS` at a time): per space a customer organisation,
/// a staff member who creates the space and its room, and `size - 1` customers added with one
/// commit; then each member's notification preference. Returns the clients, in space order, and
/// the seconds it took.
pub(crate) fn portal_setup(
    relay: &Relay,
    admin: &Device,
    opts: &Options,
    sizes: &[usize],
) -> Res<(Vec<MixedClient>, f64)> {
    let t = Instant::now();
    // Numbers the devices (for their seeds) in space order.
    let firsts: Vec<usize> = sizes
        .iter()
        .scan(0, |n, s| {
            let first = *n;
            *n += s;
            Some(first)
        })
        .collect();
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<Option<Vec<MixedClient>>>> =
        Mutex::new((0..sizes.len()).map(|_| None).collect());
    let notify = json!({ "mode": opts.mixed_notify });
    let worker = || -> Res<()> {
        loop {
            let s = next.fetch_add(1, Ordering::Relaxed);
            let Some(&size) = sizes.get(s) else {
                return Ok(());
            };
            let org = relay.create_customer_org(admin, &format!("Portal Customer {s}"));
            let staff = relay.add_staff(admin, &format!("Staff{s}"));
            let space = relay.create_space(&staff, &org);
            let names: Vec<String> = (1..size).map(|i| format!("Space{s}Member{i}")).collect();
            let (room_id, clients) =
                room_with_members(relay, &staff, &space, &names, opts.pool, firsts[s], true)?;
            let room: Arc<str> = Arc::from(room_id.as_str());
            for c in &clients {
                let r = relay
                    .client(&c.device)
                    .put_json("/v1/me/notifications", &notify);
                if !(200..300).contains(&r.status) {
                    return Err(
                        format!("notification preference: {} {}", r.status, r.text()).into(),
                    );
                }
            }
            let clients = clients
                .into_iter()
                .map(|load| MixedClient {
                    load,
                    room_id: Arc::clone(&room),
                    hs_after: 0,
                })
                .collect();
            done.lock().map_err(|_| "set-up lock poisoned")?[s] = Some(clients);
            if s % 50 == 49 {
                println!(
                    "portal: {} spaces set up ({:.1} s)",
                    s + 1,
                    t.elapsed().as_secs_f64()
                );
            }
        }
    };
    std::thread::scope(|scope| -> Res<()> {
        let handles: Vec<_> = (0..SETUP_THREADS.min(sizes.len()))
            .map(|_| scope.spawn(worker))
            .collect();
        for h in handles {
            // The harness asserts on unexpected answers: a panic is a failed set-up, as an error.
            h.join().map_err(|p| {
                let what = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                format!("portal set-up thread panicked: {what}")
            })??;
        }
        Ok(())
    })?;
    let clients: Vec<MixedClient> = done
        .into_inner()
        .map_err(|_| "set-up lock poisoned")?
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    Ok((clients, t.elapsed().as_secs_f64()))
}

/// The portal-shaped mixed workload: set-up (timed), then the closed loop and its report.
pub(crate) fn portal_scenario(
    runtime: &tokio::runtime::Runtime,
    deploy: &Deployment,
    admin: &Device,
    opts: &Options,
    healthz_rate: Option<f64>,
) -> Res<String> {
    let sizes = space_sizes(opts.portal_devices, opts.portal_spaces, opts.portal_seed)?;
    println!(
        "portal: setting up {} devices in {} spaces ({} threads)",
        opts.portal_devices,
        sizes.len(),
        SETUP_THREADS
    );
    let (clients, setup_secs) = portal_setup(deploy.first()?, admin, opts, &sizes)?;
    println!(
        "portal: {} devices in {} rooms set up in {setup_secs:.1} s",
        clients.len(),
        sizes.len()
    );
    let mut histogram = [0usize; SPACE_MAX + 1];
    for &s in &sizes {
        histogram[s] += 1;
    }
    let spread: Vec<String> = (SPACE_MIN..=SPACE_MAX)
        .map(|m| format!("{}x{m}", histogram[m]))
        .collect();
    let work = Workload {
        name: "portal",
        title: "Portal-shaped mixed workload",
        devices: format!(
            "in {} spaces, each its own MLS room of {SPACE_MIN} to {SPACE_MAX} members (a staff \
             member who created it and customers; spaces by members: {}, seed {}), each device \
             posting, syncing and uploading in its own space's room",
            sizes.len(),
            spread.join(", "),
            opts.portal_seed
        ),
        setup_secs,
    };
    let (md, _) = runtime.block_on(run_mixed(deploy, clients, opts, healthz_rate, &work))?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_sizes_sum_up_within_bounds_and_repeat() {
        for (devices, spaces) in [(1000, 200), (400, 200), (1600, 200), (7, 2), (2, 1)] {
            let sizes = space_sizes(devices, spaces, 1).unwrap();
            assert_eq!(sizes.len(), spaces);
            assert_eq!(sizes.iter().sum::<usize>(), devices);
            assert!(sizes.iter().all(|s| (SPACE_MIN..=SPACE_MAX).contains(s)));
            assert_eq!(sizes, space_sizes(devices, spaces, 1).unwrap());
        }
        let sizes = space_sizes(1000, 200, 1).unwrap();
        assert!(sizes.contains(&SPACE_MIN) && sizes.contains(&SPACE_MAX));
        assert_ne!(sizes, space_sizes(1000, 200, 2).unwrap());
        assert!(space_sizes(1001, 125, 1).is_err());
        assert!(space_sizes(3, 2, 1).is_err());
        assert!(space_sizes(1, 0, 1).is_err());
    }
}
