; The sdcl plug-in batch tests, shared by GIMP 2.10 and 3.0.  The prelude
; (gimp2.scm or gimp3.scm) defines the sd-* helpers, batch_tests.py defines
; sd-model, sd-image and sd-out, and checks what this reports with
; (gimp-message "SDCL-RESULT <case> key=value ...") and the PNGs it writes.
; Every case runs in (catch ...) so one failure does not hide the others.

(define (sd-path name) (string-append sd-out name))
(define (sd-str v) (if (number? v) (number->string v) v))
(define (sd-kv k v) (string-append k "=" (sd-str v) " "))
(define (sd-report case . fields)
  (gimp-message (apply string-append "SDCL-RESULT " case " " fields)))

(define (sd-describe case image src new seed)
  (sd-report case "status=ok "
             (sd-kv "layers" (length (sd-layers image)))
             (sd-kv "w" (sd-width new)) (sd-kv "h" (sd-height new))
             (sd-kv "x" (car (sd-offsets new))) (sd-kv "y" (cadr (sd-offsets new)))
             (sd-kv "newpos" (sd-position image new)) (sd-kv "srcpos" (sd-position image src))
             (sd-kv "seed" seed)
             (sd-kv "gray" (if (sd-is-gray new) 1 0))
             (sd-kv "mask" (if (sd-has-mask new) 1 0)))
  (sd-report (string-append case "-name") "name=\"" (sd-name new) "\""))

; Failures: the image must stay as it was.
(define (sd-expect-failure case image thunk)
  (sd-save-composite image (sd-path (string-append case "-comp-before.png")))
  (let ((failed (catch 1 (thunk) 0)))
    (sd-report case (sd-kv "failed" failed) (sd-kv "layers" (length (sd-layers image)))))
  (sd-save-composite image (sd-path (string-append case "-comp-after.png"))))

; txt2img: fixed seed; the canvas grows so the source layer sits at (8,16).
(catch (sd-report "t2i" "status=error")
  (let* ((image (sd-load sd-image))
         (src (car (sd-layers image))))
    (gimp-image-resize image 80 96 8 16)
    (sd-save-layer src (sd-path "t2i-src-before.png"))
    (let ((r (sd-txt2img image src sd-model "a red circle" 42 64 64)))
      (sd-describe "t2i" image src (car r) (cadr r)))
    (sd-save-layer src (sd-path "t2i-src-after.png"))
    (gimp-image-delete image)))

; txt2img with tiling (seamless texture): batch_tests.py compares the layer
; with the sdcl tool's --tiling image.
(catch (sd-report "t2i-tiling" "status=error")
  (let* ((image (sd-load sd-image))
         (src (car (sd-layers image)))
         (r (sd-txt2img-tiling image src sd-model)))
    (sd-save-layer (car r) (sd-path "t2i-tiling.png"))
    (sd-describe "t2i-tiling" image src (car r) (cadr r))
    (gimp-image-delete image)))

; The schedule and the prediction override: batch_tests.py compares each
; layer with the sdcl tool's image for --schedule / --prediction.
(for-each
  (lambda (case)
    (catch (sd-report (car case) "status=error")
      (let* ((image (sd-load sd-image))
             (src (car (sd-layers image)))
             (r (sd-txt2img-sp image src sd-model "euler" (cadr case) (caddr case))))
        (sd-save-layer (car r) (sd-path (string-append (car case) ".png")))
        (sd-describe (car case) image src (car r) (cadr r))
        (gimp-image-delete image))))
  '(("t2i-schedule" "exponential" "auto") ("t2i-prediction" "default" "v")))

; LoRA, prompt syntax and embeddings (issue 20): batch_tests.py compares
; each layer with the sdcl tool's image for the same options, and the
; pairs that must differ (LoRA or not, plain or a1111, embedding or not).
(for-each
  (lambda (case)
    (catch (sd-report (car case) "status=error")
      (let* ((image (sd-load sd-image))
             (src (car (sd-layers image)))
             (args (cdr case))
             (model (if (string=? (car case) "t2i-lora-tag") sd-model-linked sd-model))
             (r (sd-txt2img-lp image src model (car args) (cadr args) (caddr args)
                               (cadddr args))))
        (sd-save-layer (car r) (sd-path (string-append (car case) ".png")))
        (sd-describe (car case) image src (car r) (cadr r))
        (gimp-image-delete image))))
  ; (GIMP 3 refuses "" for the prompt-syntax choice: always a name here)
  (list (list "t2i-lora" "a red circle" (string-append sd-lora ":0.8") "a1111" "")
        (list "t2i-lora-list" "a red circle"
              (string-append sd-lora ":0.8\n" sd-lora2 ":0.5") "a1111" "")
        ; the tag names kohya.safetensors in the Lora folder beside the model
        (list "t2i-lora-tag" "a red circle <lora:kohya:0.8>" "" "a1111" "")
        (list "t2i-plain" "a (red:1.5) circle" "" "plain" "")
        (list "t2i-a1111" "a (red:1.5) circle" "" "a1111" "")
        (list "t2i-embedding" "a tinyemb circle" "" "a1111" sd-embedding)))

; The turbo argument (appended last) on the SDXL single file: batch_tests.py
; compares the layer with the CLI's --turbo image and the one without.
(for-each
  (lambda (case)
    (catch (sd-report (car case) "status=error")
      (let* ((image (sd-load sd-image))
             (src (car (sd-layers image)))
             (r (sd-txt2img-turbo image src sd-model-sdxl (cadr case))))
        (sd-save-layer (car r) (sd-path (string-append (car case) ".png")))
        (sd-describe (car case) image src (car r) (cadr r))
        (gimp-image-delete image))))
  (list (list "t2i-turbo" TRUE) (list "t2i-noturbo" FALSE)))

; A LoRA file that is not there fails before any work, naming it.
(catch (sd-report "badlora" "status=error")
  (let* ((image (sd-load sd-image))
         (src (car (sd-layers image))))
    (sd-expect-failure "badlora" image
                       (lambda () (sd-txt2img-lp image src sd-model "x" "/nonexistent/x.safetensors"
                                                 "a1111" "")))
    (gimp-image-delete image)))

; batch-count 3 from seed 42: three layers, seeds 42, 43, 44, all
; returned; batch_tests.py compares the second with the CLI's seed 43.
(catch (sd-report "t2i-batch" "status=error")
  (let* ((image (sd-load sd-image))
         (src (car (sd-layers image)))
         (r (sd-txt2img-batch image src sd-model "a red circle" 42 48 64 3))
         (new (sd-returned-layers r)))
    (sd-report "t2i-batch" (sd-kv "layers" (length (sd-layers image)))
               (sd-kv "returned" (length new)) (sd-kv "seed" (cadr r))
               (sd-kv "first" (if (= (car r) (car new)) 1 0)))
    (let loop ((layers new) (i 0))
      (if (pair? layers)
          (begin
            (sd-report (string-append "t2i-batch-" (number->string i))
                       "name=\"" (sd-name (car layers)) "\"")
            (sd-save-layer (car layers)
                           (sd-path (string-append "t2i-batch-" (number->string i) ".png")))
            (loop (cdr layers) (+ i 1)))))
    (gimp-image-delete image)))

; A schedule the sampler does not take (LMS has no AYS) fails before any
; work, naming both (GIMP 3 itself refuses unknown names of a choice).
(catch (sd-report "badschedule" "status=error")
  (let* ((image (sd-load sd-image))
         (src (car (sd-layers image))))
    (sd-expect-failure "badschedule" image
                       (lambda () (sd-txt2img-sp image src sd-model "lms" "ays" "auto")))
    (gimp-image-delete image)))

; img2img on 16-bit linear RGB, random seed, a selection picks the area.
(catch (sd-report "i2i" "status=error")
  (let* ((image (sd-load sd-image))
         (src (car (sd-layers image))))
    (gimp-image-convert-precision image sd-u16-linear)
    (gimp-image-select-rectangle image CHANNEL-OP-REPLACE 8 8 24 32)
    (sd-save-layer src (sd-path "i2i-src-before.png"))
    (let ((r (sd-img2img image src sd-model "a blue square" -1)))
      (sd-describe "i2i" image src (car r) (cadr r)))
    (sd-save-layer src (sd-path "i2i-src-after.png"))
    (gimp-image-delete image)))

; img2img on float greyscale without a selection: the whole layer.
(catch (sd-report "i2i-gray" "status=error")
  (let* ((image (sd-load sd-image))
         (src (car (sd-layers image))))
    (gimp-image-convert-grayscale image)
    (gimp-image-convert-precision image sd-float)
    (sd-save-layer src (sd-path "i2i-gray-src-before.png"))
    (let ((r (sd-img2img image src sd-model "grey" 5)))
      (sd-describe "i2i-gray" image src (car r) (cadr r)))
    (sd-save-layer src (sd-path "i2i-gray-src-after.png"))
    (gimp-image-delete image)))

; inpaint: a hard-edged rectangle inside the offset layer.
(catch (sd-report "inpaint" "status=error")
  (let* ((image (sd-load sd-image))
         (src (car (sd-layers image))))
    (gimp-image-resize image 80 96 8 16)
    (gimp-image-select-rectangle image CHANNEL-OP-REPLACE 21 35 22 26)
    (sd-save-layer src (sd-path "inpaint-src-before.png"))
    (sd-save-composite image (sd-path "inpaint-comp-before.png"))
    (let ((r (sd-inpaint image src sd-model "a green leaf" 7)))
      (sd-describe "inpaint" image src (car r) (cadr r))
      (sd-report "inpaint" "sx=21 sy=35 sw=22 sh=26"))
    (sd-save-layer src (sd-path "inpaint-src-after.png"))
    (sd-save-composite image (sd-path "inpaint-comp-after.png"))
    (gimp-image-delete image)))


; outpaint: the canvas grows 16 px left and 8 px at the bottom; the new
; layer covers the grown canvas and is masked to the new border.
(catch (sd-report "outpaint" "status=error")
  (let* ((image (sd-load sd-image))
         (src (car (sd-layers image))))
    (sd-save-layer src (sd-path "outpaint-src-before.png"))
    (sd-save-composite image (sd-path "outpaint-comp-before.png"))
    (let ((r (sd-outpaint image src sd-model "a wide landscape" 9 16 0 0 8)))
      (sd-describe "outpaint" image src (car r) (cadr r))
      (sd-report "outpaint" (sd-kv "cw" (car (sd-canvas image)))
                 (sd-kv "ch" (cadr (sd-canvas image)))
                 (sd-kv "sx" (car (sd-offsets src))) (sd-kv "sy" (cadr (sd-offsets src)))))
    (sd-save-layer src (sd-path "outpaint-src-after.png"))
    (sd-save-composite image (sd-path "outpaint-comp-after.png"))
    (gimp-image-delete image)))

; outpaint with no margins: the layer's transparent pixels (a cleared
; rectangle) are the area to fill; the canvas stays.
(catch (sd-report "outpaint-alpha" "status=error")
  (let* ((image (sd-load sd-image))
         (src (car (sd-layers image))))
    (gimp-layer-add-alpha src)
    (gimp-image-select-rectangle image CHANNEL-OP-REPLACE 30 0 18 64)
    (sd-clear src)
    (gimp-selection-none image)
    (sd-save-layer src (sd-path "outpaint-alpha-src-before.png"))
    (sd-save-composite image (sd-path "outpaint-alpha-comp-before.png"))
    (let ((r (sd-outpaint image src sd-model "a wide landscape" 9 0 0 0 0)))
      (sd-describe "outpaint-alpha" image src (car r) (cadr r))
      (sd-report "outpaint-alpha" (sd-kv "cw" (car (sd-canvas image)))
                 (sd-kv "ch" (cadr (sd-canvas image)))))
    (sd-save-layer src (sd-path "outpaint-alpha-src-after.png"))
    (sd-save-composite image (sd-path "outpaint-alpha-comp-after.png"))
    (gimp-image-delete image)))

(catch (sd-report "noselection" "status=error")
  (let* ((image (sd-load sd-image))
         (src (car (sd-layers image))))
    (gimp-selection-none image)
    (sd-expect-failure "noselection" image
                       (lambda () (sd-inpaint image src sd-model "nothing selected" 1)))
    (gimp-image-delete image)))

; An opaque layer and no margins: nothing to fill, said before any work.
(catch (sd-report "nothingtofill" "status=error")
  (let* ((image (sd-load sd-image))
         (src (car (sd-layers image))))
    (sd-expect-failure "nothingtofill" image
                       (lambda () (sd-outpaint image src sd-model "x" 1 0 0 0 0)))
    (gimp-image-delete image)))

(catch (sd-report "badmodel" "status=error")
  (let* ((image (sd-load sd-image))
         (src (car (sd-layers image))))
    (gimp-image-select-rectangle image CHANNEL-OP-REPLACE 4 4 16 16)
    (sd-expect-failure "badmodel" image
                       (lambda () (sd-img2img image src "/nonexistent/sdcl-model" "x" 1)))
    (gimp-image-delete image)))

(sd-report "done" "ok=1")
