//! Pipeline analytics with the in-memory store: two years of deals written through the services
//! on a manual clock, then the funnel, velocity, weighted pipeline, forecast, health score and
//! insights, and the forecast chart as SVG. Run: `cargo run --example analytics`.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use crmcore::analytics::{AnalyticsParams, forecast_svg};
use crmcore::deal::NewDeal;
use crmcore::ports::{Clock, ManualClock};
use crmcore::tenant::NewOwner;
use crmcore::{Actor, Crm};
use crmcore_memory::MemoryStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Utc.with_ymd_and_hms(2024, 1, 8, 9, 0, 0).single().ok_or("bad date")?;
    let clock = Arc::new(ManualClock::new(start));
    let crm = Crm::builder().store(MemoryStore::new()).clock(clock.clone()).build()?;
    let owner = NewOwner { email: "ada@acme.test".into(), display_name: Some("Ada".into()), handle: None };
    let (tenant, ada) = crm.tenants().create("Acme", owner).await?;
    let me = Actor::member(tenant.id, ada.id, ada.role);

    // Two years of deals: more every month, a seasonal December push, a third won, a third lost.
    for i in 0..400i64 {
        clock.set(start + Duration::hours(i * 24 * 730 / 400));
        let amount = 100_000 + (i * 7919 % 50) * 20_000;
        let close = (clock.now() + Duration::days(45 + i % 60)).date_naive();
        let deal = NewDeal {
            title: format!("Deal {i}"),
            contact_id: None,
            owner_id: None,
            amount_minor: amount,
            currency: "EUR".into(),
            stage: None,
            probability: None,
            expected_close: Some(close),
        };
        let deal = crm.deals().create(&me, deal).await?;
        let reach = (i % 5) as usize;
        for stage in ["qualified", "proposal", "negotiation"].iter().take(reach.min(3)) {
            clock.advance(Duration::days(3 + i % 11));
            crm.deals().move_stage(&me, deal.id, stage, None).await?;
        }
        clock.advance(Duration::days(5 + i % 17));
        match i % 3 {
            0 => drop(crm.deals().move_stage(&me, deal.id, "won", None).await?),
            1 => drop(crm.deals().move_stage(&me, deal.id, "lost", Some("budget")).await?),
            _ => {}
        }
    }
    clock.set(start + Duration::days(800));

    let params = AnalyticsParams { target_minor: Some(30_000_000), ..Default::default() };
    let report = crm.analytics().report(&me, &params).await?;
    println!(
        "Funnel ({} deals, win rate {:.0}%):",
        report.funnel.cohort,
        report.funnel.win_rate.unwrap_or(0.0) * 100.0
    );
    for step in &report.funnel.steps {
        println!("  {:<12} {:>4}", step.name, step.count);
    }
    let v = &report.velocity.current;
    println!(
        "Velocity (last 90 days): {} open × {:.0} avg won × {:.0}% ÷ {:.1} days = {:.2} EUR/day",
        v.open_deals,
        v.avg_won_amount_minor.unwrap_or(0.0) / 100.0,
        v.win_rate.unwrap_or(0.0) * 100.0,
        v.avg_cycle_days.unwrap_or(0.0),
        v.velocity_minor_per_day.unwrap_or(0.0) / 100.0
    );
    println!("Weighted open pipeline: {:.2} EUR", report.pipeline.weighted_minor as f64 / 100.0);
    match &report.forecast {
        Some(f) => {
            println!("Forecast ({}, {} months of history):", f.model, f.history.len());
            for p in f.points.iter().take(3) {
                let cal = p.calibrated.map(|c| format!("[{:.0}, {:.0}]", c.lower, c.upper));
                println!(
                    "  {}  {:>9.0}  textbook [{:.0}, {:.0}]  calibrated {}",
                    p.month,
                    p.mean,
                    p.textbook.lower,
                    p.textbook.upper,
                    cal.as_deref().unwrap_or("n/a")
                );
            }
            if let Some(note) = &f.calibration_note {
                println!("  note: {note}");
            }
            let path = std::env::temp_dir().join("crmcore-forecast.svg");
            std::fs::write(&path, forecast_svg(f, "Closed-won revenue"))?;
            println!("  chart: {}", path.display());
        }
        None => println!("No forecast: {}", report.forecast_error.as_deref().unwrap_or("")),
    }
    println!("Health: {:.1}/100", report.health.score.unwrap_or(0.0));
    for c in &report.health.components {
        println!(
            "  {:<15} weight {:.2}  score {:>5}  {}",
            c.name,
            c.weight,
            c.score.map_or("-".into(), |s| format!("{s:.0}")),
            c.explanation
        );
    }
    println!("Insights:");
    for insight in &report.insights {
        println!("  [{:?}] {}", insight.severity, insight.message);
    }
    Ok(())
}
