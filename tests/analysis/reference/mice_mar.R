# Reference values for tests/analysis/test_sensitivity.py: multiple imputation under MAR with R mice
# (method "norm", Bayesian linear regression) on a seeded trial-like data set, analysed by
# lm(y_t ~ baseline + arm) per imputation and pooled by Rubin's rules (mice::pool, Barnard-Rubin df).
#
# Re-run from the repository root:  Rscript tests/analysis/reference/mice_mar.R
# (R 4.2.2, mice 3.15.0 from Debian bookworm: apt-get install r-base-core r-cran-mice)
# It rewrites mice_mar.csv next to this script and prints the reference numbers as Python literals.
suppressPackageStartupMessages(library(mice))
options(digits = 15)
out_dir <- "tests/analysis/reference"

# The data: 200 participants, arms of 100 (arm = 1 intervention), a PHQ-9-like baseline, visits at weeks
# 4, 8, 12 with unstructured residual covariance and an effect of -1.5, -2.5, -3 points. Dropout is monotone
# and missing at random: the odds of leaving before a visit rise with the last observed score (and are lower
# in the intervention arm); a few intermittent misses are added.
set.seed(20240601)
n <- 200
arm <- rep(c(0, 1), each = n / 2)
baseline <- rnorm(n, 15, 4)
sds <- c(4.5, 5, 5.5)
corr <- matrix(c(1, 0.6, 0.45, 0.6, 1, 0.65, 0.45, 0.65, 1), 3)
sigma <- diag(sds) %*% corr %*% diag(sds)
e <- matrix(rnorm(n * 3), n) %*% chol(sigma)
means <- c(12.5, 11.5, 11)
effect <- c(-1.5, -2.5, -3)
y <- sapply(1:3, function(t) means[t] + effect[t] * arm + 0.6 * (baseline - 15) + e[, t])
obs <- matrix(TRUE, n, 3)
in_study <- rep(TRUE, n)
for (t in 1:3) {
  last <- if (t == 1) baseline else y[, t - 1]
  lin <- -4.7 + 0.6 * (last - 12) - 0.5 * arm + 0.3 * (t - 1)
  in_study <- in_study & (runif(n) >= plogis(lin))
  obs[, t] <- in_study
}
intermittent <- sample(which(obs[, 1] & obs[, 3]), 8)
obs[intermittent, 2] <- FALSE
y[!obs] <- NA
d <- data.frame(id = sprintf("P%03d", 1:n), arm = arm, baseline = baseline, y1 = y[, 1], y2 = y[, 2], y3 = y[, 3])
write.csv(d, file.path(out_dir, "mice_mar.csv"), row.names = FALSE)
cat("missing per visit (control, intervention):\n")
print(sapply(c("y1", "y2", "y3"), function(v) tapply(is.na(d[[v]]), d$arm, sum)))

# mice: every incomplete visit imputed by "norm" from all other columns (baseline, arm, the other visits).
dd <- d[, c("arm", "baseline", "y1", "y2", "y3")]
if (nzchar(Sys.getenv("DATA_ONLY"))) quit(save = "no")
m <- 1000
started <- Sys.time()
imp <- mice(dd, m = m, method = c("", "", "norm", "norm", "norm"), maxit = 20, seed = 4711, printFlag = FALSE)
cat("mice seconds:", as.numeric(Sys.time() - started, units = "secs"), "\n")

pylist <- function(x) paste0("[", paste(sprintf("%.12g", x), collapse = ", "), "]")
est <- c(); se <- c(); df <- c(); b <- c(); cc_est <- c(); cc_se <- c()
for (v in c("y1", "y2", "y3")) {
  fit <- with(imp, lm(as.formula(paste(v, "~ baseline + arm"))))
  pooled <- pool(fit)
  row <- summary(pooled)
  k <- which(row$term == "arm")
  est <- c(est, row$estimate[k]); se <- c(se, row$std.error[k]); df <- c(df, row$df[k])
  b <- c(b, pooled$pooled$b[k])
  cc <- summary(lm(as.formula(paste(v, "~ baseline + arm")), data = dd))$coefficients
  cc_est <- c(cc_est, cc["arm", "Estimate"]); cc_se <- c(cc_se, cc["arm", "Std. Error"])
}
cat("R_MICE = {\n")
cat('    "version": "', R.version$major, ".", R.version$minor, " / mice ", as.character(packageVersion("mice")), '",\n', sep = "")
cat('    "m":', m, ",\n")
cat('    "estimate":', pylist(est), ",\n")
cat('    "se":', pylist(se), ",\n")
cat('    "df":', pylist(df), ",\n")
cat('    "between":', pylist(b), ",\n")
cat('    "complete_case_estimate":', pylist(cc_est), ",\n")
cat('    "complete_case_se":', pylist(cc_se), ",\n")
cat("}\n")
