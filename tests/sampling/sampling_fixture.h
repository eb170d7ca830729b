/* The sampling goldens (golden/sampling.safetensors) and their index
 * (golden/sampling.json), both written by tests/reference/gen_sampling.py. */
#ifndef SDCL_TEST_SAMPLING_FIXTURE_H
#define SDCL_TEST_SAMPLING_FIXTURE_H

#include <json-glib/json-glib.h>
#include <string.h>

#include "golden.h"
#include "loader_internal.h"
#include "model_files.h"

typedef struct {
  JsonParser *parser;
  JsonObject *index;
  sdcl_st_file *tensors;
} sampling_fixture;

static inline void
sampling_fixture_open (sampling_fixture *f)
{
  g_autofree char *json_path = fixture_path ("golden/sampling.json");
  g_autoptr (GError) gerr = NULL;
  f->parser = json_parser_new ();
  if (!json_parser_load_from_file (f->parser, json_path, &gerr))
    {
      fprintf (stderr, "cannot read %s: %s\n", json_path, gerr->message);
      exit (1);
    }
  f->index = json_node_get_object (json_parser_get_root (f->parser));
  f->tensors = golden_open ("golden/sampling.safetensors");
}

static inline void
sampling_fixture_close (sampling_fixture *f)
{
  sdcl_st_close (f->tensors);
  g_object_unref (f->parser);
}

/* The entries of one section of the index ("randn", "schedules", ...). */
static inline JsonArray *
sampling_fixture_section (const sampling_fixture *f, const char *section)
{
  return json_object_get_array_member (f->index, section);
}

/* A golden tensor by "<prefix>.<suffix>" (g_free the result). */
static inline float *
sampling_tensor (const sampling_fixture *f, const char *prefix, const char *suffix, int64_t *n)
{
  g_autofree char *name = suffix ? g_strconcat (prefix, ".", suffix, NULL) : g_strdup (prefix);
  return golden_tensor (f->tensors, name, n);
}

static inline bool
sampling_tensor_exists (const sampling_fixture *f, const char *prefix, const char *suffix)
{
  g_autofree char *name = g_strconcat (prefix, ".", suffix, NULL);
  return sdcl_st_find (f->tensors, name) != NULL;
}

/* What the model loader makes of a scheduler_config.json dict: keys present
 * are taken, an absent timestep_spacing stays "" (the sampler's own default
 * applies), an absent prediction_type is epsilon. */
static inline sdcl_sched_config
sched_config_from_json (JsonObject *o)
{
  /* the loader's own reader: the golden holds the config diffusers ran */
  sdcl_sched_config c;
  sdcl_error err = { 0 };
  if (sdcl_sched_config_from_json (o, "golden config", &c, &err) != SDCL_OK)
    {
      fprintf (stderr, "%s\n", err.message);
      exit (1);
    }
  return c;
}

#endif
