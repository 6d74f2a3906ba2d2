"""PM economics: "will these settings work?" — exact where the core has a formula, Monte Carlo on the core's
rules and win test where not, batched for sweeps and fleets (see README "Economics: `lpdev economics`")."""
