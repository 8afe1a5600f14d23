# Reference values for tests/analysis/test_effects.py (analysis.stats.effects.logistic_adjusted).
#
# 1. Writes a small, deterministic, synthetic PHQ-9-like trial to tests/analysis/reference/binary_effects.csv
#    (set.seed(20240611), R's default Mersenne-Twister / Rejection sampling; 90 participants, two arms,
#    3 sites, about 10% missing follow-up). Columns: id, arm, site, baseline, follow_up, response,
#    remission, reliable (the binary columns are NA where follow_up is missing).
#      response  = follow_up <= 0.5 * baseline    (>= 50% reduction from baseline)
#      remission = follow_up < 5
#      reliable  = baseline - follow_up >= 6      (PHQ-9 reliable improvement)
# 2. Reads the CSV back and fits, on complete cases (glm's default na.omit), with control = "control":
#      A: glm(response  ~ arm + baseline,        family = binomial, control = glm.control(epsilon = 1e-14))
#      B: glm(remission ~ arm + baseline + site, family = binomial, control = glm.control(epsilon = 1e-14))
#    (the tight epsilon makes IRLS converge fully; with the default 1e-8 the SEs, computed from the weights of
#    the last-but-one iteration, are about 1e-4 relative off the maximum-likelihood values)
#    Odds ratio = exp(coef of armintervention), Wald 95% CI exp(b +/- qnorm(0.975) * se) and the Wald p of
#    summary(fit) (not the profile-likelihood confint()).
#    Marginal risks by standardization (g-computation) over the complete cases used by the model:
#      p1 = mean(plogis(X1 b)), p0 = mean(plogis(X0 b)), X1 / X0 = model.matrix with the arm dummy set to 1 / 0.
#    Delta method with V = vcov(fit): grad p_a = colMeans(p_a,i (1 - p_a,i) X_a,i);
#      RD = p1 - p0, se^2 = (g1 - g0)' V (g1 - g0);
#      log RR = log p1 - log p0, se^2 = (g1/p1 - g0/p0)' V (g1/p1 - g0/p0); RR CI = exp(log RR +/- z se).
#
# Re-run from the repository root:  Rscript tests/analysis/reference/binary_effects.R
# (R 4.2.2, base R only). It rewrites the CSV (identically) and prints the reference numbers as Python literals.
options(digits = 15)
ref_dir <- "tests/analysis/reference"
csv <- file.path(ref_dir, "binary_effects.csv")

set.seed(20240611)
n <- 90
arm <- rep(c("control", "intervention"), each = n / 2)[sample.int(n)]
site <- sample(c("A", "B", "C"), n, replace = TRUE)
baseline <- sample(10:24, n, replace = TRUE)
follow_up <- round(baseline - 3 - 4 * (arm == "intervention") + (site == "C") * 1.5 + rnorm(n, 0, 4.5))
follow_up <- pmin(pmax(follow_up, 0), 27)
follow_up[sample.int(n, 9)] <- NA
d <- data.frame(id = seq_len(n), arm = arm, site = site, baseline = baseline, follow_up = follow_up)
d$response <- as.integer(d$follow_up <= 0.5 * d$baseline)
d$remission <- as.integer(d$follow_up < 5)
d$reliable <- as.integer(d$baseline - d$follow_up >= 6)
write.csv(d, csv, row.names = FALSE, na = "")

d <- read.csv(csv, stringsAsFactors = FALSE)
d$arm <- relevel(factor(d$arm), ref = "control")
d$site <- factor(d$site)
cat("# responders per arm (complete cases):\n")
print(table(d$arm, d$response, useNA = "ifany"))
print(table(d$arm, d$remission, useNA = "ifany"))
cat(sprintf("COUNTS = {\"response\": %d, \"remission\": %d, \"reliable\": %d, \"missing\": %d}\n",
            sum(d$response, na.rm = TRUE), sum(d$remission, na.rm = TRUE), sum(d$reliable, na.rm = TRUE),
            sum(is.na(d$follow_up))))

standardize <- function(fit, label) {
  z <- qnorm(0.975)
  b <- coef(fit)
  V <- vcov(fit)
  s <- summary(fit)$coefficients
  k <- "armintervention"
  X <- model.matrix(fit)
  X1 <- X; X1[, k] <- 1
  X0 <- X; X0[, k] <- 0
  pi1 <- as.vector(plogis(X1 %*% b)); pi0 <- as.vector(plogis(X0 %*% b))
  p1 <- mean(pi1); p0 <- mean(pi0)
  g1 <- colMeans(X1 * (pi1 * (1 - pi1))); g0 <- colMeans(X0 * (pi0 * (1 - pi0)))
  rd <- p1 - p0; se_rd <- sqrt(as.numeric(t(g1 - g0) %*% V %*% (g1 - g0)))
  lrr <- log(p1) - log(p0); gl <- g1 / p1 - g0 / p0; se_lrr <- sqrt(as.numeric(t(gl) %*% V %*% gl))
  vals <- c(
    n = nobs(fit), log_or = b[[k]], se_log_or = s[k, 2], or = exp(b[[k]]),
    or_ci_low = exp(b[[k]] - z * s[k, 2]), or_ci_high = exp(b[[k]] + z * s[k, 2]), p_or = s[k, 4],
    risk_intervention = p1, risk_control = p0,
    rd = rd, se_rd = se_rd, rd_ci_low = rd - z * se_rd, rd_ci_high = rd + z * se_rd, p_rd = 2 * pnorm(-abs(rd / se_rd)),
    rr = exp(lrr), se_log_rr = se_lrr, rr_ci_low = exp(lrr - z * se_lrr), rr_ci_high = exp(lrr + z * se_lrr),
    p_rr = 2 * pnorm(-abs(lrr / se_lrr)), deviance = deviance(fit)
  )
  cat(sprintf("R_%s = {\n", label))
  for (nm in names(vals)) cat(sprintf("    \"%s\": %.12g,\n", nm, vals[[nm]]))
  cat("}\n")
}

ctl <- glm.control(epsilon = 1e-14, maxit = 100)  # converge fully: default 1e-8 leaves SEs ~1e-4 off
standardize(glm(response ~ arm + baseline, family = binomial, data = d, control = ctl), "RESPONSE")
standardize(glm(remission ~ arm + baseline + site, family = binomial, data = d, control = ctl), "REMISSION")
