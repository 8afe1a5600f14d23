# Reference values for tests/analysis/test_lmm.py and tests/analysis/test_ancova.py, on the public
# nlme::Orthodont data set as written by orthodont_mmrm.R (tests/analysis/reference/orthodont_{complete,missing}.csv).
#
# Framing: outcome = distance at ages 10, 12, 14 (post-baseline visits); baseline covariate = distance at
# age 8 (column base); "arm" = Sex with control = "Female" (reference level) and "intervention" = "Male".
#
# 1. Random-intercept linear mixed model (lme4), weeks continuous as t = age - 8 (2, 4, 6):
#        lmer(distance ~ base + Sex * t + (1 | Subject), REML = TRUE)   (and REML = FALSE for ML)
#    Treatment difference at the last follow-up (t = 6): SexMale + 6 * SexMale:t, SE from vcov().
# 2. ANCOVA at each age on complete cases: lm(distance ~ base + Sex).
#
# Re-run from the repository root:  Rscript tests/analysis/reference/orthodont_lmm_ancova.R
# (R 4.2.2, lme4 from Debian bookworm: apt-get install r-base-core r-cran-lme4)
# It prints the reference numbers as Python literals; it writes no files.
suppressPackageStartupMessages(library(lme4))
options(digits = 15)

ref_dir <- "tests/analysis/reference"
pylist <- function(x) paste0("[", paste(sprintf("%.12g", x), collapse = ", "), "]")

load_set <- function(name) {
  d <- read.csv(file.path(ref_dir, sprintf("orthodont_%s.csv", name)), stringsAsFactors = FALSE)
  d$Sex <- relevel(factor(d$Sex), ref = "Female")  # control = Female
  d$t <- d$age - 8
  d
}

lmm_print <- function(d, label, reml) {
  fit <- lmer(distance ~ base + Sex * t + (1 | Subject), data = d, REML = reml,
              control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-12)))
  b <- fixef(fit)
  V <- as.matrix(vcov(fit))
  last <- max(d$t)
  cvec <- c(0, 0, 1, 0, last)  # SexMale + last * SexMale:t
  est <- sum(cvec * b)
  se <- sqrt(as.numeric(t(cvec) %*% V %*% cvec))
  vc <- as.data.frame(VarCorr(fit))
  cat(sprintf("%s = {\n", label))
  cat(sprintf("    \"terms\": [%s],\n", paste0("\"", names(b), "\"", collapse = ", ")))
  cat(sprintf("    \"coef\": %s,\n", pylist(b)))
  cat(sprintf("    \"se\": %s,\n", pylist(sqrt(diag(V)))))
  cat(sprintf("    \"loglik\": %.12g,\n", as.numeric(logLik(fit))))
  cat(sprintf("    \"var_subject\": %.12g,\n", vc$vcov[vc$grp == "Subject"]))
  cat(sprintf("    \"var_residual\": %.12g,\n", vc$vcov[vc$grp == "Residual"]))
  cat(sprintf("    \"last_week\": %.12g,\n", last))
  cat(sprintf("    \"estimate\": %.12g,\n", est))
  cat(sprintf("    \"estimate_se\": %.12g,\n", se))
  cat(sprintf("    \"n_obs\": %d,\n", nrow(d)))
  cat(sprintf("    \"n_subjects\": %d,\n", length(unique(d$Subject))))
  cat("}\n")
}

ancova_print <- function(d, label) {
  cat(sprintf("%s = {\n", label))
  for (a in sort(unique(d$age))) {
    fit <- lm(distance ~ base + Sex, data = d[d$age == a, ])
    s <- summary(fit)$coefficients
    cat(sprintf("    %d: {\"n\": %d, \"estimate\": %.12g, \"se\": %.12g, \"p\": %.12g, \"df\": %d},\n",
                a, nobs(fit), s["SexMale", "Estimate"], s["SexMale", "Std. Error"],
                s["SexMale", "Pr(>|t|)"], fit$df.residual))
  }
  cat("}\n")
}

for (name in c("complete", "missing")) {
  d <- load_set(name)
  lmm_print(d, sprintf("R_LMM_%s_REML", toupper(name)), TRUE)
  lmm_print(d, sprintf("R_LMM_%s_ML", toupper(name)), FALSE)
  ancova_print(d, sprintf("R_ANCOVA_%s", toupper(name)))
}
cat(sprintf("# %s; lme4 %s\n", R.version.string, as.character(packageVersion("lme4"))))
