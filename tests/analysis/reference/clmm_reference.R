# Reference values for tests/analysis/test_clmm.py: cumulative-link mixed models fitted with R ordinal::clmm
# (logit link, flexible thresholds, random intercept), by the Laplace approximation (nAGQ = 1, the default)
# and by adaptive Gauss-Hermite quadrature with 10 nodes (nAGQ = 10).
#
# Two data sets, both written next to this script:
#   clmm_trial.csv  a simulated trial (seed 20261205): 180 participants, arms control / intervention, a
#                   2-level stratum (site S1 / S2), a baseline total, post-baseline weeks 4, 8 and 12 with a
#                   PHQ-9-like total 0..27 (rounded, clipped latent normal with a participant effect) and
#                   missing visits (rows with y = NA, dropped by clmm's na.action).
#   clmm_wine.csv   ordinal's public `wine` data (Randall 1989): rating (1..5) ~ temp + contact + (1 | judge).
#
# Re-run from the repository root:  Rscript tests/analysis/reference/clmm_reference.R
# (R 4.2.2, ordinal 2022.11.16 from Debian bookworm: apt-get install r-base-core r-cran-ordinal)
# It rewrites the two CSVs and prints the reference numbers as Python literals.
#
# The fits are `clmm(formula, data, link = "logit", threshold = "flexible", nAGQ = 1 or 10)` with default
# control, continued to the optimum of the same objective (see "fits" below).
suppressPackageStartupMessages(library(ordinal))
options(digits = 15)

out_dir <- "tests/analysis/reference"

# ---- simulated trial --------------------------------------------------------------------------------
set.seed(20261205)
n <- 180
weeks <- c(4, 8, 12)
id <- sprintf("P%03d", seq_len(n))
arm <- ifelse(seq_len(n) %% 2 == 0, "intervention", "control")
site <- ifelse(runif(n) < 0.45, "S2", "S1")
base <- pmin(27, pmax(5, round(rnorm(n, 16, 4))))
person <- rnorm(n, 0, 2.5)
effect <- c(-1.5, -2.5, -3.0)  # intervention minus control, latent scale, by week
rows <- list()
for (j in seq_along(weeks)) {
  latent <- 3 + 0.6 * base - 1 - 0.3 * weeks[j] + ifelse(site == "S2", 1.2, 0) +
    ifelse(arm == "intervention", effect[j], 0) + person + rnorm(n, 0, 2.5)
  y <- pmin(27, pmax(0, round(latent)))
  y[runif(n) < c(0.08, 0.12, 0.18)[j]] <- NA
  rows[[j]] <- data.frame(id = id, arm = arm, site = site, base = base, week = weeks[j], y = y)
}
d <- do.call(rbind, rows)
d <- d[order(d$id, d$week), ]
rownames(d) <- NULL
write.csv(d, file.path(out_dir, "clmm_trial.csv"), row.names = FALSE, na = "")

# Fit exactly what the CSV holds.
d <- read.csv(file.path(out_dir, "clmm_trial.csv"))
d$arm <- factor(d$arm, levels = c("control", "intervention"))
d$site <- factor(d$site, levels = c("S1", "S2"))
d$week <- factor(d$week, levels = weeks)
d$id <- factor(d$id)
d$yf <- factor(d$y)  # the observed levels are the categories

# ---- wine ----------------------------------------------------------------------------------------------
w <- as.data.frame(wine)[, c("judge", "bottle", "temp", "contact", "rating")]
w$rating <- as.integer(as.character(w$rating))
write.csv(w, file.path(out_dir, "clmm_wine.csv"), row.names = FALSE)
w <- read.csv(file.path(out_dir, "clmm_wine.csv"))
w$temp <- factor(w$temp, levels = c("cold", "warm"))
w$contact <- factor(w$contact, levels = c("no", "yes"))
w$judge <- factor(w$judge)
w$ratingf <- factor(w$rating)

# ---- fits ----------------------------------------------------------------------------------------------
# Two things in clmm keep its own numbers ~1e-4 away from the optimum of the model it describes:
#  * nlminb stops (relative function tolerance, finite-difference gradients) with max|gradient| ~ 1e-4..1e-3;
#  * for Laplace, the curvature D_i = h_i''(u_i) it uses in log(D_i) / 2 is computed (C routine NRalgv3) at
#    the Newton iterate BEFORE the last step for the random-effect modes, not at the modes, which moves the
#    Laplace logLik by ~1e-4 here and the estimates by ~5e-4. (For AGQ this only moves the quadrature
#    centre and scale, and the quadrature is insensitive to that.)
# So the tight references continue from clmm's fit with Newton steps on clmm's own objective: for AGQ
# ordinal:::getNAGQ.ssr as it is; for Laplace ordinal:::getNLA.ssr's modes (inner gradTol 1e-6) polished by
# two more Newton steps, then its objective with negLogLik and D_i = 1 + sd^2 sum phi2 (hess.u's
# phi2 = ((p1 - p2) / pr)^2 - (g1 - g2) / pr) at those modes.
# Gradient by central differences (step 1e-4), Hessian by ordinal:::deriv12 as clmm computes it, until
# max|gradient| < 1e-6; SEs are then vcov.clmm's: chol2inv(chol(Hessian)). clmm's own fits are printed too
# (R_*_CLMM: coef, exp(ST), sqrt(diag(vcov(fit))), logLik) and the test compares with them loosely.
pylist <- function(x) paste0("[", paste(sprintf("%.12g", x), collapse = ", "), "]")
pystr <- function(x) paste0("[", paste(sprintf("\"%s\"", x), collapse = ", "), "]")

laplace_exact <- function(rho) function(par) {
  v <- ordinal:::getNLA.ssr(rho, par)  # sets rho$u (modes, max|gradient| < gradTol), rho$tau, rho$eta*Fix
  if (!is.finite(v)) return(v)
  u <- rho$u
  terms <- function(u) {
    ran <- rho$tau * u[rho$grFac]
    eta1 <- rho$eta1Fix + rho$o1 - ran
    eta2 <- rho$eta2Fix + rho$o2 - ran
    pr <- rho$pfun(eta1) - rho$pfun(eta2)
    p12 <- (rho$dfun(eta1) - rho$dfun(eta2)) / pr
    phi2 <- rho$wts * (p12^2 - (rho$gfun(eta1) - rho$gfun(eta2)) / pr)
    list(pr = pr, grad = u + rho$tau * as.vector(tapply(rho$wts * p12, rho$grFac, sum)),
         D = 1 + rho$tau^2 * as.vector(tapply(phi2, rho$grFac, sum)))
  }
  for (i in 1:2) {  # two more Newton steps for the modes, to rounding precision
    t <- terms(u)
    u <- u - t$grad / t$D
  }
  t <- terms(u)
  # ordinal's Laplace objective (getNLA.ssr), with negLogLik and D at the modes
  -sum(rho$wts * log(t$pr)) - sum(dnorm(u, log = TRUE)) - rho$nrandom * log(2 * pi) / 2 + sum(log(t$D)) / 2
}

polish <- function(fit, formula, data, q) {
  rho <- clmm(formula, data = data, link = "logit", threshold = "flexible", nAGQ = q, doFit = FALSE,
              control = clmm.control(gradTol = 1e-6, innerCtrl = "noWarn"))
  obj <- if (q > 1) function(par) ordinal:::getNAGQ.ssr(rho, par) else laplace_exact(rho)
  grad <- function(par, h = 1e-4) sapply(seq_along(par), function(j) {
    e <- rep(0, length(par)); e[j] <- h; (obj(par + e) - obj(par - e)) / (2 * h)
  })
  par <- fit$optRes$par
  for (it in 1:20) {
    g <- grad(par)
    if (max(abs(g)) < 1e-6) break
    H <- ordinal:::deriv12(obj, par)$Hessian
    par <- par - solve(H, g)
  }
  H <- ordinal:::deriv12(obj, par)$Hessian
  list(par = par, value = obj(par), grad = grad(par), V = chol2inv(chol(H)), start = fit$optRes$par)
}

report <- function(fit, formula, data, q, label, visits = TRUE) {
  p <- polish(fit, formula, data, q)
  nalpha <- length(fit$alpha)
  nbeta <- length(fit$beta)
  names(p$par) <- c(names(fit$alpha), names(fit$beta), "log(sd)")
  dimnames(p$V) <- list(names(p$par), names(p$par))
  cat(sprintf("%s = {\n", label))
  cat(sprintf("    \"threshold_names\": %s,\n", pystr(names(fit$alpha))))
  cat(sprintf("    \"thresholds\": %s,\n", pylist(p$par[1:nalpha])))
  cat(sprintf("    \"beta_names\": %s,\n", pystr(names(fit$beta))))
  cat(sprintf("    \"beta\": %s,\n", pylist(p$par[nalpha + 1:nbeta])))
  cat(sprintf("    \"sd\": %.12g,\n", exp(p$par[nalpha + nbeta + 1])))
  cat(sprintf("    \"se\": %s,\n", pylist(sqrt(diag(p$V)))))  # thresholds, betas, log SD
  cat(sprintf("    \"loglik\": %.12g,\n", -p$value))
  if (visits) {
    est <- numeric(0)
    se <- numeric(0)
    for (k in seq_along(weeks)) {
      cvec <- setNames(rep(0, length(p$par)), names(p$par))
      cvec["armintervention"] <- 1
      if (k > 1) cvec[sprintf("armintervention:week%d", weeks[k])] <- 1
      est <- c(est, sum(cvec * p$par))
      se <- c(se, sqrt(drop(t(cvec) %*% p$V %*% cvec)))
    }
    cat(sprintf("    \"visit_estimate\": %s,\n", pylist(est)))
    cat(sprintf("    \"visit_se\": %s,\n", pylist(se)))
  }
  cat(sprintf("    \"n_obs\": %d,\n", fit$dims$nobs))
  cat("}\n")
  cat(sprintf("# %s: clmm's own fit: max|gradient| %.2g, max|par - reference| %.2g, logLik diff %.2g; ",
              label, max(abs(fit$gradient)), max(abs(p$start - p$par)), fit$logLik + p$value))
  cat(sprintf("reference max|gradient| %.2g\n", max(abs(p$grad))))
  cat(sprintf("%s_CLMM = {\n", label))
  cat(sprintf("    \"thresholds\": %s,\n", pylist(fit$alpha)))
  cat(sprintf("    \"beta\": %s,\n", pylist(fit$beta)))
  cat(sprintf("    \"sd\": %.12g,\n", fit$ST[[1]][1, 1]))
  cat(sprintf("    \"se\": %s,\n", pylist(sqrt(diag(vcov(fit))))))
  cat(sprintf("    \"loglik\": %.12g,\n", fit$logLik))
  cat("}\n")
}

ftrial <- yf ~ base + site + arm * week + (1 | id)
fwine <- ratingf ~ temp + contact + (1 | judge)
for (q in c(1, 10)) {
  fit <- clmm(ftrial, data = d, link = "logit", threshold = "flexible", nAGQ = q)
  report(fit, ftrial, d, q, sprintf("R_TRIAL_%s", if (q == 1) "LAPLACE" else sprintf("AGQ%d", q)))
  fitw <- clmm(fwine, data = w, link = "logit", threshold = "flexible", nAGQ = q)
  report(fitw, fwine, w, q, sprintf("R_WINE_%s", if (q == 1) "LAPLACE" else sprintf("AGQ%d", q)), visits = FALSE)
}
cat(sprintf("# levels of y in the trial data: %s\n", paste(levels(d$yf), collapse = " ")))
cat(sprintf("# %s, ordinal %s\n", R.version.string, packageVersion("ordinal")))
