# Reference values for tests/analysis/test_mmrm.py: an MMRM on the public nlme::Orthodont data set,
# fitted with nlme::gls (unstructured covariance = corSymm + varIdent, REML).
#
# Framing: outcome = distance at ages 10, 12, 14 (post-baseline visits); baseline covariate = distance at
# age 8; "arm" = Sex with control = "Female" (reference level) and "intervention" = "Male"; visit = age.
#
# Re-run from the repository root:  Rscript tests/analysis/reference/orthodont_mmrm.R
# (R 4.2.2, nlme 3.1-162 from Debian bookworm: apt-get install r-base-core r-cran-nlme)
# It rewrites the two CSVs next to this script and prints the reference numbers as Python literals.
suppressPackageStartupMessages(library(nlme))
options(digits = 15)

out_dir <- "tests/analysis/reference"

o <- as.data.frame(Orthodont)
o$Subject <- as.character(o$Subject)
o$Sex <- as.character(o$Sex)
base <- o[o$age == 8, c("Subject", "distance")]
names(base)[2] <- "base"
d <- merge(o[o$age > 8, ], base, by = "Subject")
d <- d[order(d$Subject, d$age), ]
d$visitindex <- as.integer(match(d$age, c(10, 12, 14)))  # 1..T integer
d$Sex <- relevel(factor(d$Sex), ref = "Female")          # control = Female
rownames(d) <- NULL

# The missing-data set: a fixed, listed set of 12 of the 81 post-baseline rows (14.8%) dropped.
dropped <- data.frame(
  Subject = c("M03", "M05", "M05", "M08", "M11", "M13", "M16", "F02", "F05", "F05", "F08", "F10"),
  age     = c(14,    12,    14,    10,    14,    12,    10,    14,    12,    14,    10,    14)
)
key <- paste(d$Subject, d$age)
dm <- d[!(key %in% paste(dropped$Subject, dropped$age)), ]
rownames(dm) <- NULL
stopifnot(nrow(dm) == nrow(d) - 12)

cols <- c("Subject", "Sex", "age", "visitindex", "base", "distance")
write.csv(d[, cols], file.path(out_dir, "orthodont_complete.csv"), row.names = FALSE)
write.csv(dm[, cols], file.path(out_dir, "orthodont_missing.csv"), row.names = FALSE)

pylist <- function(x) paste0("[", paste(sprintf("%.12g", x), collapse = ", "), "]")

fit_and_print <- function(data, label) {
  fit <- gls(distance ~ base + Sex * factor(age), data = data,
             correlation = corSymm(form = ~ visitindex | Subject),
             weights = varIdent(form = ~ 1 | factor(age)),
             method = "REML",
             control = glsControl(tolerance = 1e-10, msTol = 1e-12, msMaxIter = 1000, maxIter = 500))
  b <- coef(fit)
  V <- vcov(fit)
  # Visit covariance from a subject observed at all three ages (M01 is complete in both sets).
  S <- unclass(getVarCov(fit, individual = "M01"))
  # Treatment difference (Male - Female) at each age: SexMale (+ SexMale:factor(age)a).
  contrasts <- rbind(
    "10" = c(0, 0, 1, 0, 0, 0, 0),
    "12" = c(0, 0, 1, 0, 0, 1, 0),
    "14" = c(0, 0, 1, 0, 0, 0, 1)
  )
  est <- as.vector(contrasts %*% b)
  se <- sqrt(diag(contrasts %*% V %*% t(contrasts)))
  cat(sprintf("%s = {\n", label))
  cat(sprintf("    \"terms\": [%s],\n", paste0("\"", names(b), "\"", collapse = ", ")))
  cat(sprintf("    \"coef\": %s,\n", pylist(b)))
  cat(sprintf("    \"se\": %s,\n", pylist(sqrt(diag(V)))))
  cat(sprintf("    \"loglik\": %.12g,\n", as.numeric(logLik(fit))))
  cat(sprintf("    \"covariance\": [%s],\n", paste(apply(S, 1, pylist), collapse = ", ")))
  cat(sprintf("    \"diff_estimate\": %s,\n", pylist(est)))
  cat(sprintf("    \"diff_se\": %s,\n", pylist(se)))
  cat(sprintf("    \"n_obs\": %d,\n", nrow(data)))
  cat("}\n")
}

fit_and_print(d, "R_COMPLETE")
fit_and_print(dm, "R_MISSING")
cat(sprintf("# %s; nlme %s\n", R.version.string, as.character(packageVersion("nlme"))))
