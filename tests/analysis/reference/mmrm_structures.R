# Reference values for tests/analysis/test_mmrm_structures.py: MMRMs with every covariance structure of
# analysis.stats.mmrm, fitted by the R mmrm package (REML), with Satterthwaite and Kenward-Roger inference.
#
# Data: (1) the Orthodont CSVs next to this script (written by orthodont_mmrm.R): distance at ages 10, 12, 14,
# baseline = distance at age 8, "arm" = Sex (control Female); (2) mmrm's own fev_data (written here to
# fev_data.csv): FEV1 at VIS1..VIS4, baseline FEV1_BL, arm ARMCD (control PBO), covariates RACE and SEX.
#
# Re-run from the repository root:  Rscript tests/analysis/reference/mmrm_structures.R
# (R 4.2.2 from Debian bookworm; mmrm built from github.com/openpharma/mmrm with Debian's r-cran-tmb,
# r-cran-rcpp, r-cran-checkmate, ...: R CMD INSTALL). It prints the reference numbers as Python literals.
# fev_data is the simulated FEV1 trial shipped with mmrm (Apache-2.0).
suppressPackageStartupMessages(library(mmrm))
options(digits = 15)

out_dir <- "tests/analysis/reference"
pylist <- function(x) paste0("[", paste(sprintf("%.12g", x), collapse = ", "), "]")
structures <- c("us", "toeph", "ar1h", "csh", "toep", "ar1", "cs")
# A tight optimum (nlminb with TMB's exact gradient and Hessian), so that differences are the methods', not
# the optimisers' stopping rules.
# nlminb can stop with "singular convergence" at a too tight rel.tol: then the next looser one is used.
ctrl <- function(method, vcov = NULL, tol = 1e-14) {
  mmrm_control(method = method, vcov = vcov, optimizer = "nlminb",
               optimizer_control = list(rel.tol = tol, x.tol = tol, eval.max = 2000, iter.max = 1000))
}
tight_mmrm <- function(f, data, method, vcov = NULL) {
  for (tol in c(1e-14, 1e-12, 1e-10)) {
    fit <- tryCatch(mmrm(f, data = data, reml = TRUE, control = ctrl(method, vcov, tol)), error = function(e) NULL)
    if (!is.null(fit)) return(fit)
  }
  mmrm(f, data = data, reml = TRUE, control = mmrm_control(method = method, vcov = vcov))
}

fit_all <- function(label, data, fixed, visit, subject, contrasts) {
  cat(sprintf("%s = {\n", label))
  for (s in structures) {
    f <- as.formula(sprintf("%s + %s(%s | %s)", fixed, s, visit, subject))
    sat <- tight_mmrm(f, data, "Satterthwaite")
    kr <- tight_mmrm(f, data, "Kenward-Roger", "Kenward-Roger")
    krl <- tight_mmrm(f, data, "Kenward-Roger", "Kenward-Roger-Linear")
    one <- function(fit) lapply(seq_len(nrow(contrasts)), function(i) df_1d(fit, contrasts[i, ]))
    s1 <- one(sat); k1 <- one(kr); l1 <- one(krl)
    b <- component(sat, "beta_est")
    cat(sprintf("    \"%s\": {\n", s))
    cat(sprintf("        \"loglik\": %.12g,\n", as.numeric(logLik(sat))))
    cat(sprintf("        \"coef\": %s,\n", pylist(b)))
    cat(sprintf("        \"coef_se\": %s,\n", pylist(sqrt(diag(component(sat, "beta_vcov"))))))
    cat(sprintf("        \"estimate\": %s,\n", pylist(sapply(s1, `[[`, "est"))))
    cat(sprintf("        \"se\": %s,\n", pylist(sapply(s1, `[[`, "se"))))
    cat(sprintf("        \"df\": %s,\n", pylist(sapply(s1, `[[`, "df"))))
    cat(sprintf("        \"se_kr\": %s,\n", pylist(sapply(k1, `[[`, "se"))))
    cat(sprintf("        \"df_kr\": %s,\n", pylist(sapply(k1, `[[`, "df"))))
    cat(sprintf("        \"se_kr_linear\": %s,\n", pylist(sapply(l1, `[[`, "se"))))
    cat(sprintf("        \"df_kr_linear\": %s,\n", pylist(sapply(l1, `[[`, "df"))))
    cat(sprintf("        \"covariance\": [%s],\n", paste(apply(component(sat, "varcor"), 1, pylist), collapse = ", ")))
    cat("    },\n")
  }
  cat("}\n")
}

# (1) Orthodont. Coefficients: (Intercept), base, SexMale, AVISIT12, AVISIT14, SexMale:AVISIT12, SexMale:AVISIT14.
ortho <- rbind(
  "10" = c(0, 0, 1, 0, 0, 0, 0),
  "12" = c(0, 0, 1, 0, 0, 1, 0),
  "14" = c(0, 0, 1, 0, 0, 0, 1)
)
for (name in c("complete", "missing")) {
  d <- read.csv(file.path(out_dir, sprintf("orthodont_%s.csv", name)))
  d$Sex <- relevel(factor(d$Sex), ref = "Female")
  d$AVISIT <- factor(d$age, levels = c(10, 12, 14))
  d$Subject <- factor(d$Subject)
  fit_all(sprintf("R_ORTHODONT_%s", toupper(name)), d, "distance ~ base + Sex * AVISIT", "AVISIT", "Subject", ortho)
}

# (2) fev_data. Coefficients: (Intercept), FEV1_BL, RACE x2, SEX, ARMCDTRT, AVISIT x3, ARMCDTRT:AVISIT x3.
fev <- fev_data
write.csv(
  data.frame(USUBJID = as.character(fev$USUBJID), AVISIT = as.character(fev$AVISIT), ARMCD = as.character(fev$ARMCD),
             RACE = as.character(fev$RACE), SEX = as.character(fev$SEX), FEV1_BL = fev$FEV1_BL, FEV1 = fev$FEV1),
  file.path(out_dir, "fev_data.csv"), row.names = FALSE, na = ""
)
fev_terms <- colnames(model.matrix(FEV1 ~ FEV1_BL + RACE + SEX + ARMCD * AVISIT, fev))
cat(sprintf("# fev_data terms: %s\n", paste(fev_terms, collapse = ", ")))
fev_con <- t(sapply(1:4, function(v) {
  x <- setNames(rep(0, length(fev_terms)), fev_terms)
  x["ARMCDTRT"] <- 1
  if (v > 1) x[sprintf("ARMCDTRT:AVISITVIS%d", v)] <- 1
  x
}))
fit_all("R_FEV", fev, "FEV1 ~ FEV1_BL + RACE + SEX + ARMCD * AVISIT", "AVISIT", "USUBJID", fev_con)
cat(sprintf("# %s; mmrm %s; TMB %s\n", R.version.string, as.character(packageVersion("mmrm")),
            as.character(packageVersion("TMB"))))
