; The resident model server, cancel and the default model, in one GIMP
; session (GIMP 2.10 and 3.0; the prelude gimp2.scm / gimp3.scm defines the
; sd-* helpers, resident_tests.py defines sd-model, sd-image, sd-out and
; sd-phase).  resident_tests.py reads the SDCL-RESULT lines, the PNGs and
; the plug-in's log ($SDCL_GIMP_LOG), whose lines name every generation's
; prompt, every model load and what the server did.

(define (sd-path name) (string-append sd-out name))
(define (sd-str v) (if (number? v) (number->string v) v))
(define (sd-kv k v) (string-append k "=" (sd-str v) " "))
(define (sd-report case . fields)
  (gimp-message (apply string-append "SDCL-RESULT " case " " fields)))
(define (sd-flag v) (if v 1 0))

; One call on a fresh copy of the test image; reports status, layer count
; and the new layer's size.
(define (sd-call case proc)
  (catch (sd-report case "status=error")
    (let* ((image (sd-load sd-image))
           (src (car (sd-layers image)))
           (new (car (proc image src))))
      (sd-report case "status=ok " (sd-kv "layers" (length (sd-layers image)))
                 (sd-kv "w" (sd-width new)) (sd-kv "h" (sd-height new)))
      (gimp-image-delete image))))

(define (sd-main-phase)
  ; Two calls: the second one finds the model loaded.
  (sd-call "first" (lambda (image src) (sd-txt2img image src sd-model "first call" 1 64 64)))
  (sd-call "second" (lambda (image src) (sd-img2img image src sd-model "second call" 2)))

  ; A LoRA on the kept model, then none: both reuse it (issue 20).  The log's
  ; segments are found by the quoted prompt, so the second prompt has a
  ; trailing space: the same tokens, so only the LoRA tells the images apart.
  (for-each
    (lambda (case)
      (catch (sd-report (car case) "status=error")
        (let* ((image (sd-load sd-image))
               (src (car (sd-layers image)))
               (new (car (sd-txt2img-lp image src sd-model (cadr case) (caddr case) "a1111" ""))))
          (sd-save-layer new (sd-path (string-append (car case) ".png")))
          (sd-report (car case) "status=ok " (sd-kv "layers" (length (sd-layers image))))
          (gimp-image-delete image))))
    (list (list "lora" "lora call" sd-lora) (list "no-lora" "lora call " "")))

  ; Cancel: the test hook ends the plug-in at step 1 of 8, as GIMP's Cancel
  ; does.  The call fails and the image stays as it was: no layer, the
  ; source's pixels, and nothing on the undo stack (still clean).
  (catch (sd-report "cancel" "status=error")
    (let* ((image (sd-load sd-image))
           (src (car (sd-layers image))))
      (gimp-image-clean-all image)
      (sd-save-layer src (sd-path "cancel-src-before.png"))
      (let ((failed (catch 1 (sd-img2img-steps image src sd-model "cancel me" 3 8) 0)))
        (sd-report "cancel" (sd-kv "failed" failed) (sd-kv "layers" (length (sd-layers image)))
                   (sd-kv "dirty" (sd-flag (sd-dirty image)))))
      (sd-save-layer src (sd-path "cancel-src-after.png"))
      (gimp-image-delete image)))

  ; The server survived its client's death and kept the model.
  (sd-call "after-cancel" (lambda (image src) (sd-txt2img image src sd-model "after cancel" 4 64 64)))

  ; Release on request: the next call loads again; a second release finds
  ; the new server, a third none.
  (sd-report "release1" (sd-kv "released" (sd-flag (sd-release))))
  (sd-call "after-release" (lambda (image src) (sd-txt2img image src sd-model "after release" 5 64 64)))
  (sd-report "release2" (sd-kv "released" (sd-flag (sd-release))))
  (sd-report "release3" (sd-kv "released" (sd-flag (sd-release))))

  ; An empty model is the demo model; inpainting takes its inpainting variant.
  (sd-call "default" (lambda (image src) (sd-txt2img image src "" "default model" 6 64 64)))
  (sd-call "default-inpaint"
           (lambda (image src)
             (gimp-image-select-rectangle image CHANNEL-OP-REPLACE 8 8 16 16)
             (sd-inpaint image src "" "default inpaint" 7))))

(define (sd-idle-phase)
  ; $SDCL_GIMP_IDLE_TIMEOUT is 1 s here: the server lets go while we wait.
  (sd-call "idle1" (lambda (image src) (sd-txt2img image src sd-model "before idle" 8 64 64)))
  (usleep 4000000)
  (sd-call "idle2" (lambda (image src) (sd-txt2img image src sd-model "after idle" 9 64 64))))

(if (equal? sd-phase "main") (sd-main-phase) (sd-idle-phase))
(sd-report "done" "ok=1")
