// The C++ side of clblast_tune.h: CLBlast's tuner API is C++ only.
//
// SPDX-License-Identifier: LGPL-3.0-or-later
#include "clblast_tune.h"

#include <clblast.h>

#include <string>
#include <unordered_map>

extern "C" int
sdcl_clblast_tune_xgemm (cl_command_queue queue, size_t m, size_t n, size_t k, double fraction,
                         int count, const char *const *names, size_t *values)
{
  try
    {
      std::unordered_map<std::string, size_t> params;
      const clblast::StatusCode rc = clblast::TuneXgemm<float> (&queue, m, n, k, fraction, params);
      if (rc != clblast::StatusCode::kSuccess)
        return static_cast<int> (rc);
      for (int i = 0; i < count; i++)
        {
          const auto it = params.find (names[i]);
          if (it == params.end ())
            return SDCL_CLBLAST_TUNE_INCOMPLETE;
          values[i] = it->second;
        }
      return 0;
    }
  catch (...)
    {
      return SDCL_CLBLAST_TUNE_INCOMPLETE;
    }
}
