/* The sampler table (sampler_table.h) and the public sampler names.
 *
 * Labels are English msgids of the "sdcl" gettext domain: po/POTFILES lists
 * this file, so xgettext finds them through N_(), and the front ends
 * translate them (g_dgettext ("sdcl", label)).  The engine itself never
 * translates and does not depend on GIMP or GEGL.
 *
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "sampler_table.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

#include <glib.h>

/* Marks a msgid for xgettext without translating it here. */
#define N_(text) text

/* Sigma-based samplers take every sigma schedule; the others the spacing
 * and, where diffusers accepts custom timesteps, AYS (LMS, Euler a and DDIM
 * take none). */
#define SIGMA_SCHEDULES                                                                            \
  (SDCL_TAKES (SDCL_SCHEDULE_KARRAS) | SDCL_TAKES (SDCL_SCHEDULE_EXPONENTIAL)                      \
   | SDCL_TAKES (SDCL_SCHEDULE_TRAILING) | SDCL_TAKES (SDCL_SCHEDULE_AYS))
/* diffusers' set_timesteps of these classes takes no custom timesteps */
#define SIGMA_NO_AYS (SIGMA_SCHEDULES & ~SDCL_TAKES (SDCL_SCHEDULE_AYS))
#define TRAILING SDCL_TAKES (SDCL_SCHEDULE_TRAILING)
#define LEADING SDCL_SAMPLER_LEADING_DEFAULT

static const sdcl_sampler_row rows[] = {
  [SDCL_SAMPLER_EULER] = { "euler", N_("Euler"), 0, SIGMA_SCHEDULES, 1, 0, SDCL_LATENT_VE, NULL,
                           sdcl_schedule_euler, sdcl_step_euler },
  [SDCL_SAMPLER_EULER_A] = { "euler_a", N_("Euler ancestral"), SDCL_SAMPLER_NOISE, TRAILING, 1, 0,
                             SDCL_LATENT_VE, NULL, sdcl_schedule_euler, sdcl_step_euler_a },
  [SDCL_SAMPLER_DDIM] = { "ddim", N_("DDIM"), SDCL_SAMPLER_ETA | LEADING, TRAILING, 1, 0,
                          SDCL_LATENT_VP, NULL, sdcl_schedule_discrete, sdcl_step_ddim },
  [SDCL_SAMPLER_DPMPP_2M] = { "dpmpp_2m", N_("DPM++ 2M"), 0, SIGMA_SCHEDULES, 1, 0,
                              SDCL_LATENT_DPM, NULL, sdcl_schedule_dpm, sdcl_step_dpmpp_2m },
  [SDCL_SAMPLER_LCM] = { "lcm", N_("LCM (for LCM models)"), SDCL_SAMPLER_NOISE | LEADING, 0, 1,
                         SDCL_LCM_ORIGIN_STEPS, SDCL_LATENT_VP, NULL, sdcl_schedule_lcm,
                         sdcl_step_lcm },
  [SDCL_SAMPLER_DDPM] = { "ddpm", N_("DDPM"), SDCL_SAMPLER_NOISE | LEADING,
                          TRAILING | SDCL_TAKES (SDCL_SCHEDULE_AYS), 1, 0, SDCL_LATENT_VP,
                          sdcl_check_ddpm, sdcl_schedule_discrete, sdcl_step_ddpm },
  [SDCL_SAMPLER_DPMPP_2M_SDE] = { "dpmpp_2m_sde", N_("DPM++ 2M SDE"), SDCL_SAMPLER_NOISE,
                                  SIGMA_SCHEDULES, 1, 0, SDCL_LATENT_DPM, NULL, sdcl_schedule_dpm,
                                  sdcl_step_dpmpp_2m_sde },
  [SDCL_SAMPLER_LMS] = { "lms", N_("LMS"), 0, SIGMA_NO_AYS, 1, 0, SDCL_LATENT_VE, NULL,
                         sdcl_schedule_euler, sdcl_step_lms },
  [SDCL_SAMPLER_HEUN] = { "heun", N_("Heun"), 0, SIGMA_SCHEDULES, 2, 0, SDCL_LATENT_VE, NULL,
                          sdcl_schedule_heun, sdcl_step_heun },
  [SDCL_SAMPLER_PNDM] = { "pndm", N_("PNDM (PLMS)"), LEADING, TRAILING, 1, 0, SDCL_LATENT_VP,
                          sdcl_check_pndm, sdcl_schedule_pndm, sdcl_step_pndm },
  [SDCL_SAMPLER_DPM2] = { "dpm2", N_("DPM2"), 0, SIGMA_NO_AYS, 2, 0, SDCL_LATENT_VE,
                          sdcl_check_dpm2, sdcl_schedule_dpm2, sdcl_step_dpm2 },
  [SDCL_SAMPLER_DPM2_A] = { "dpm2_a", N_("DPM2 ancestral"), SDCL_SAMPLER_NOISE, SIGMA_NO_AYS, 2,
                            0, SDCL_LATENT_VE, sdcl_check_dpm2, sdcl_schedule_dpm2_a,
                            sdcl_step_dpm2_a },
  [SDCL_SAMPLER_TCD] = { "tcd", N_("TCD (for TCD models; eta is gamma)"),
                         SDCL_SAMPLER_ETA | SDCL_SAMPLER_ETA_FRACTION | LEADING, 0, 1,
                         SDCL_LCM_ORIGIN_STEPS, SDCL_LATENT_VP, NULL, sdcl_schedule_lcm,
                         sdcl_step_tcd },
  /* k-diffusion's sampler on DPM2 a's levels; diffusers has no class for it */
  [SDCL_SAMPLER_DPMPP_2S_A] = { "dpmpp_2s_a", N_("DPM++ 2S ancestral"), SDCL_SAMPLER_NOISE,
                                SIGMA_NO_AYS, 2, 0, SDCL_LATENT_VE, sdcl_check_dpm2,
                                sdcl_schedule_dpm2_a, sdcl_step_dpmpp_2s_a },
  /* diffusers' Brownian-tree noise replaced by the run's generator (step_k.c) */
  [SDCL_SAMPLER_DPMPP_SDE] = { "dpmpp_sde", N_("DPM++ SDE"), SDCL_SAMPLER_NOISE, SIGMA_NO_AYS, 2,
                               0, SDCL_LATENT_VE, sdcl_check_dpm2, sdcl_schedule_dpmpp_sde,
                               sdcl_step_dpmpp_sde },
  [SDCL_SAMPLER_UNIPC] = { "unipc", N_("UniPC"), 0, SIGMA_NO_AYS, 1, 0, SDCL_LATENT_DPM, NULL,
                           sdcl_schedule_unipc, sdcl_step_unipc },
  [SDCL_SAMPLER_DEIS] = { "deis", N_("DEIS"), 0, SIGMA_NO_AYS, 1, 0, SDCL_LATENT_DPM, NULL,
                          sdcl_schedule_deis, sdcl_step_deis },
};

G_STATIC_ASSERT (G_N_ELEMENTS (rows) == SDCL_SAMPLER_COUNT);

/* Other spellings people type (A1111's and diffusers' names). */
static const struct {
  const char *alias;
  sdcl_sampler sampler;
} aliases[] = {
  { "euler_ancestral", SDCL_SAMPLER_EULER_A }, { "dpm++2m", SDCL_SAMPLER_DPMPP_2M },
  { "dpmpp2m", SDCL_SAMPLER_DPMPP_2M },        { "dpm++_2m", SDCL_SAMPLER_DPMPP_2M },
  { "dpmsolver++", SDCL_SAMPLER_DPMPP_2M },     { "dpm++_2m_sde", SDCL_SAMPLER_DPMPP_2M_SDE },
  { "dpm++2m_sde", SDCL_SAMPLER_DPMPP_2M_SDE }, { "sde_dpmsolver++", SDCL_SAMPLER_DPMPP_2M_SDE },
  { "k_lms", SDCL_SAMPLER_LMS },               { "k_dpm_2", SDCL_SAMPLER_DPM2 },
  { "k_dpm_2_a", SDCL_SAMPLER_DPM2_A },          { "dpm2_ancestral", SDCL_SAMPLER_DPM2_A },
  { "dpm++_2s_a", SDCL_SAMPLER_DPMPP_2S_A },     { "dpmpp_2s_ancestral", SDCL_SAMPLER_DPMPP_2S_A },
  { "k_dpmpp_2s_a", SDCL_SAMPLER_DPMPP_2S_A },   { "dpm++_sde", SDCL_SAMPLER_DPMPP_SDE },
  { "k_dpmpp_sde", SDCL_SAMPLER_DPMPP_SDE },      { "uni_pc", SDCL_SAMPLER_UNIPC },
  { "uni_pc_bh2", SDCL_SAMPLER_UNIPC },               { "plms", SDCL_SAMPLER_PNDM },
};

const sdcl_sampler_row *
sdcl_sampler_row_of (sdcl_sampler kind)
{
  if ((int) kind < 0 || kind >= SDCL_SAMPLER_COUNT)
    return NULL;
  return &rows[kind];
}

float
sdcl_sampler_eta_max (sdcl_sampler kind)
{
  const sdcl_sampler_row *row = sdcl_sampler_row_of (kind);
  return row && (row->options & SDCL_SAMPLER_ETA_FRACTION) ? 1.0f : INFINITY;
}

int
sdcl_sampler_count (void)
{
  return SDCL_SAMPLER_COUNT;
}

const char *
sdcl_sampler_name (sdcl_sampler sampler)
{
  const sdcl_sampler_row *row = sdcl_sampler_row_of (sampler);
  return row ? row->name : NULL;
}

const char *
sdcl_sampler_label (sdcl_sampler sampler)
{
  const sdcl_sampler_row *row = sdcl_sampler_row_of (sampler);
  return row ? row->label : NULL;
}

bool
sdcl_sampler_has_schedule (sdcl_sampler sampler, sdcl_schedule schedule)
{
  const sdcl_sampler_row *row = sdcl_sampler_row_of (sampler);
  if (!row || (int) schedule < 0 || schedule >= SDCL_SCHEDULE_COUNT)
    return false;
  return schedule == SDCL_SCHEDULE_DEFAULT || (row->schedules & SDCL_TAKES (schedule));
}

bool
sdcl_sampler_has_karras (sdcl_sampler sampler)
{
  return sdcl_sampler_has_schedule (sampler, SDCL_SCHEDULE_KARRAS);
}

static const char *const schedule_names[SDCL_SCHEDULE_COUNT] = {
  [SDCL_SCHEDULE_DEFAULT] = "default", [SDCL_SCHEDULE_KARRAS] = "karras",
  [SDCL_SCHEDULE_EXPONENTIAL] = "exponential", [SDCL_SCHEDULE_TRAILING] = "trailing",
  [SDCL_SCHEDULE_AYS] = "ays",
};

const char *
sdcl_schedule_name (sdcl_schedule schedule)
{
  if ((int) schedule < 0 || schedule >= SDCL_SCHEDULE_COUNT)
    return NULL;
  return schedule_names[schedule];
}

int
sdcl_schedule_count (void)
{
  return SDCL_SCHEDULE_COUNT;
}

static const char *const schedule_labels[SDCL_SCHEDULE_COUNT] = {
  [SDCL_SCHEDULE_DEFAULT] = N_("The model's own"), [SDCL_SCHEDULE_KARRAS] = N_("Karras"),
  [SDCL_SCHEDULE_EXPONENTIAL] = N_("Exponential"),
  [SDCL_SCHEDULE_TRAILING] = N_("Trailing (sgm_uniform)"),
  [SDCL_SCHEDULE_AYS] = N_("Align Your Steps"),
};

const char *
sdcl_schedule_label (sdcl_schedule schedule)
{
  if ((int) schedule < 0 || schedule >= SDCL_SCHEDULE_COUNT)
    return NULL;
  return schedule_labels[schedule];
}

int
sdcl_sampler_evals_per_step (sdcl_sampler sampler)
{
  const sdcl_sampler_row *row = sdcl_sampler_row_of (sampler);
  return row ? row->evals_per_step : 0;
}

/* Lower case, '-' and ' ' read as '_'.  Returns false when it does not fit. */
static bool
normalize_name (const char *name, char *out, size_t size)
{
  size_t len = strlen (name);
  if (len == 0 || len >= size)
    return false;
  for (size_t i = 0; i <= len; i++)
    {
      char c = (char) tolower ((unsigned char) name[i]);
      out[i] = (c == '-' || c == ' ') ? '_' : c;
    }
  return true;
}

bool
sdcl_sampler_from_name (const char *name, sdcl_sampler *out)
{
  char key[32];
  if (!name || !out || !normalize_name (name, key, sizeof key))
    return false;
  for (int i = 0; i < SDCL_SAMPLER_COUNT; i++)
    if (strcmp (key, rows[i].name) == 0)
      {
        *out = (sdcl_sampler) i;
        return true;
      }
  for (size_t i = 0; i < G_N_ELEMENTS (aliases); i++)
    if (strcmp (key, aliases[i].alias) == 0)
      {
        *out = aliases[i].sampler;
        return true;
      }
  return false;
}

bool
sdcl_schedule_from_name (const char *name, sdcl_schedule *out)
{
  static const struct {
    const char *alias;
    sdcl_schedule schedule;
  } schedule_aliases[] = {
    { "sgm_uniform", SDCL_SCHEDULE_TRAILING },
    { "align_your_steps", SDCL_SCHEDULE_AYS },
  };
  char key[32];
  if (!name || !out || !normalize_name (name, key, sizeof key))
    return false;
  for (int i = 0; i < SDCL_SCHEDULE_COUNT; i++)
    if (strcmp (key, schedule_names[i]) == 0)
      {
        *out = (sdcl_schedule) i;
        return true;
      }
  for (size_t i = 0; i < G_N_ELEMENTS (schedule_aliases); i++)
    if (strcmp (key, schedule_aliases[i].alias) == 0)
      {
        *out = schedule_aliases[i].schedule;
        return true;
      }
  return false;
}
